// Package blotest is what the BLO network's tests share: a PKI per site
// made with kordon-certs' own code, free loopback ports, and a private
// PostgreSQL cluster.
package blotest

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
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

// FreeAddr is a loopback address with a port free now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// WriteFile writes a test file or fails.
func WriteFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
