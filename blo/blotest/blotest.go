// Package blotest is what the BLO network's tests share: a PKI per site
// made with kordon-certs' own code, free loopback ports, and a private
// PostgreSQL cluster.
package blotest

import (
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/kordon/kordon/cmd/kordon-certs/certs"
)

// Site is one site's CA and link certificate on disk.
type Site struct {
	ID       string
	Dir      string
	CA       *certs.Pair
	CAFile   string
	CertFile string
	KeyFile  string
}

// NewSite makes a CA for id and a link certificate naming id, in dir.
func NewSite(t testing.TB, dir, id string) *Site {
	t.Helper()
	ca, err := certs.NewCA(id, 1)
	if err != nil {
		t.Fatal(err)
	}
	return IssueLink(t, dir, id, ca)
}

// IssueLink makes a link certificate naming id from ca (which may be
// another site's CA: a forged identity).
func IssueLink(t testing.TB, dir, id string, ca *certs.Pair) *Site {
	t.Helper()
	d := filepath.Join(dir, id)
	if err := ca.Write(d, "ca"); err != nil {
		t.Fatal(err)
	}
	link, err := certs.NewLink(ca, id, []string{"127.0.0.1", "localhost"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := link.Write(d, "link"); err != nil {
		t.Fatal(err)
	}
	return &Site{ID: id, Dir: d, CA: ca, CAFile: filepath.Join(d, "ca.pem"),
		CertFile: filepath.Join(d, "link.pem"), KeyFile: filepath.Join(d, "link.key")}
}

// FreeAddr is a loopback address with a port free now, for a server that
// must be told its port before it starts (a cluster's routes name each
// other). It is taken below the kernel's ephemeral range (32768 up), where
// no outgoing connection of the busy test machine can take it in the
// moment before the server binds, and is never handed out twice by one
// test process.
func FreeAddr(t testing.TB) string {
	t.Helper()
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		l.Close()
		return "127.0.0.1:" + strconv.Itoa(port)
	}
	t.Fatal("no free loopback port between 20000 and 32000")
	return ""
}

// handedOut are the ports FreeAddr gave this process.
var handedOut sync.Map

// WriteFile writes a test file or fails.
func WriteFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
