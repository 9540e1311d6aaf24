package hub

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/bcrypt"

	"github.com/kordon/kordon/cmd/kordon-certs/certs"
	"github.com/kordon/kordon/drivers/passport/mrz"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/reading"
)

const testCrossing = "kg-test"

type pki struct {
	dir string
	ca  *certs.Pair
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	ca, err := certs.NewCA(testCrossing, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Write(dir, "ca"); err != nil {
		t.Fatal(err)
	}
	hub, err := certs.NewHub(ca, []string{"127.0.0.1", "localhost"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := hub.Write(dir, "hub"); err != nil {
		t.Fatal(err)
	}
	return &pki{dir: dir, ca: ca}
}

func (p *pki) box(t *testing.T, id string) tls.Certificate {
	t.Helper()
	b, err := certs.NewBox(p.ca, id, 1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(b.CertPEM, b.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func startTestHub(t *testing.T, p *pki, boxes map[string]string) *Hub {
	t.Helper()
	cfg := &Config{Crossing: testCrossing, MQTT: "127.0.0.1:0", DataDir: t.TempDir()}
	if p != nil {
		cfg.TLS = &TLSConfig{Address: "127.0.0.1:0", CA: filepath.Join(p.dir, "ca.pem"),
			Cert: filepath.Join(p.dir, "hub.pem"), Key: filepath.Join(p.dir, "hub.key")}
	}
	for b, pw := range boxes {
		h := ""
		if pw != "" {
			hb, _ := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
			h = string(hb)
		}
		cfg.Boxes = append(cfg.Boxes, BoxCreds{Box: b, PasswordHash: h})
	}
	return runHub(t, cfg, nil)
}

type clientOpts struct {
	url, user, pw, id string
	tls               *tls.Config
}

func connect(t testing.TB, o clientOpts) (paho.Client, error) {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker(o.url).SetClientID(o.id).SetUsername(o.user).SetPassword(o.pw).
		SetAutoReconnect(false).SetConnectTimeout(20 * time.Second).SetCleanSession(true). // a loaded CI machine: bcrypt at full cost under -race
		SetProtocolVersion(4)                                                              // no fallback to 3.1: one refusal per attempt
	if o.tls != nil {
		opts.SetTLSConfig(o.tls)
	}
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(30 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

func (p *pki) clientTLS(t *testing.T, cert *tls.Certificate) *tls.Config {
	pem, err := os.ReadFile(filepath.Join(p.dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

func TestMutualTLSIdentity(t *testing.T) {
	p := newPKI(t)
	h := startTestHub(t, p, map[string]string{"booth1": "", "booth2": ""})
	url := "ssl://" + h.TLSAddr()
	c1 := p.box(t, "booth1")

	t.Run("own certificate is admitted and bound to its topics", func(t *testing.T) {
		c, err := connect(t, clientOpts{url: url, id: "kordon-" + testCrossing + "-booth1", tls: p.clientTLS(t, &c1)})
		if err != nil {
			t.Fatalf("booth1 with its own certificate refused: %v", err)
		}
		tok := c.Subscribe(contract.Commands(testCrossing, "booth1"), 1, nil)
		tok.Wait()
		if tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		denied := h.Counters().Denied
		// Writing under another box's topics is refused by the ACL.
		c.Publish(contract.BoxState(testCrossing, "booth2"), 1, false, []byte(`{}`)).WaitTimeout(2 * time.Second)
		waitFor(t, "ACL denial counted", func() bool { return h.Counters().Denied > denied })
	})
	t.Run("another box's certificate is refused", func(t *testing.T) {
		// booth2's box software runs with booth1's certificate: its client
		// id (or username) names booth2, the certificate says booth1.
		if _, err := connect(t, clientOpts{url: url, id: "kordon-" + testCrossing + "-booth2", tls: p.clientTLS(t, &c1)}); err == nil {
			t.Fatal("client id booth2 with booth1's certificate admitted")
		}
		if _, err := connect(t, clientOpts{url: url, id: "x1", user: "booth2", tls: p.clientTLS(t, &c1)}); err == nil {
			t.Fatal("username booth2 with booth1's certificate admitted")
		}
	})
	t.Run("certificate of an unknown box is refused", func(t *testing.T) {
		c3 := p.box(t, "booth3")
		if _, err := connect(t, clientOpts{url: url, id: "x2", tls: p.clientTLS(t, &c3)}); err == nil {
			t.Fatal("booth3 is not in the hub's boxes but was admitted")
		}
	})
	t.Run("certificate from another CA is refused", func(t *testing.T) {
		other := newPKI(t)
		c := other.box(t, "booth1")
		before := h.auth.counts.get("certificate")
		if _, err := connect(t, clientOpts{url: url, id: "x3", tls: p.clientTLS(t, &c)}); err == nil {
			t.Fatal("a certificate from a foreign CA was admitted")
		}
		if h.auth.counts.get("certificate") == before {
			t.Fatal("certificate refusal not counted")
		}
	})
	t.Run("no client certificate is refused", func(t *testing.T) {
		if _, err := connect(t, clientOpts{url: url, id: "x4", tls: p.clientTLS(t, nil)}); err == nil {
			t.Fatal("a client without a certificate was admitted")
		}
	})
}

func TestPasswordModeRefusals(t *testing.T) {
	h := startTestHub(t, nil, map[string]string{"booth1": "pw1", "booth2": "pw2"})
	url := "tcp://" + h.MQTTAddr()
	if _, err := connect(t, clientOpts{url: url, id: "anon"}); err == nil {
		t.Fatal("anonymous client admitted")
	}
	if _, err := connect(t, clientOpts{url: url, id: "x", user: "booth1", pw: "wrong"}); err == nil {
		t.Fatal("wrong password admitted")
	}
	// A box cannot take over another box's session by its client id.
	if _, err := connect(t, clientOpts{url: url, id: "kordon-" + testCrossing + "-booth2", user: "booth1", pw: "pw1"}); err == nil {
		t.Fatal("booth1 admitted under booth2's client id")
	}
	if _, err := connect(t, clientOpts{url: url, id: "kordon-" + testCrossing + "-booth1", user: "booth1", pw: "pw1"}); err != nil {
		t.Fatalf("booth1 refused: %v", err)
	}
	if h.Counters().Clients < 3 {
		t.Fatalf("refused clients counted %d, want 3", h.Counters().Clients)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// specimen renders a valid document reading for box/device/seq.
func specimen(t testing.TB, box, device string, seq uint64) []byte {
	t.Helper()
	doc, err := mrz.Parse([]string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := reading.Reading{Crossing: testCrossing, Box: box, Device: device, Driver: "mrz", Seq: seq,
		Origin: time.Now(), Clock: reading.ClockSynced, Quality: reading.Quality{Status: reading.OK}, Payload: doc}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGapAsksResendAndRecordsLoss plays a box by hand: seq 1, then 4. The
// hub must ask for a resend from 2 on the box's command topic; the box
// sends 2 and says 3 is gone; the hub records 3 as lost and stops asking.
func TestGapAsksResendAndRecordsLoss(t *testing.T) {
	h := startTestHub(t, nil, map[string]string{"booth1": "pw1"})
	c, err := connect(t, clientOpts{url: "tcp://" + h.MQTTAddr(), id: "kordon-" + testCrossing + "-booth1", user: "booth1", pw: "pw1"})
	if err != nil {
		t.Fatal(err)
	}
	cmds := make(chan contract.Command, 16)
	c.Subscribe(contract.Commands(testCrossing, "booth1"), 1, func(_ paho.Client, m paho.Message) {
		var cmd contract.Command
		json.Unmarshal(m.Payload(), &cmd)
		cmds <- cmd
	}).Wait()
	topic := contract.Readings(testCrossing, "booth1", "reader1")
	pub := func(seq uint64) {
		tok := c.Publish(topic, 1, false, specimen(t, "booth1", "reader1", seq))
		tok.Wait()
		if tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	pub(1)
	pub(4)
	var cmd contract.Command
	select {
	case cmd = <-cmds:
	case <-time.After(10 * time.Second):
		t.Fatal("no resend command after a gap")
	}
	if cmd.Name != "resend" || cmd.Args["device"] != "reader1" || cmd.Args["from"] != "2" {
		t.Fatalf("command %+v, want resend reader1 from 2", cmd)
	}
	pub(2)
	reply, _ := json.Marshal(contract.Reply{Schema: contract.ReplyV1, ID: cmd.ID, Name: "resend", OK: true, Time: time.Now().UTC(),
		Result: map[string]string{"device": "reader1", "from": "2", "missing": "3-3"}})
	c.Publish(contract.Replies(testCrossing, "booth1"), 1, false, reply).Wait()
	waitFor(t, "loss recorded", func() bool {
		l, _ := h.LostReadings()
		return len(l) == 1 && l[0].First == 3 && l[0].Last == 3
	})
	pub(5) // contiguous now: no new request
	contig := h.gaps.contiguousOf("booth1", "", "reader1")
	if contig != 5 {
		t.Fatalf("contiguous mark %d after 1,4,2,lost 3,5; want 5", contig)
	}
	if got := h.Counters().Readings; got != 4 {
		t.Fatalf("stored %d readings, want 4", got)
	}
	if !strings.Contains(scrape(t, h), "kordon_hub_readings_lost_total 1") {
		t.Fatal("lost readings not in /metrics")
	}
}

func scrape(t *testing.T, h *Hub) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}
