package blo

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kordon/kordon/blo/blotest"
)

// waitRefused waits until n has refused at least want handshakes.
func waitRefused(t *testing.T, n *Node, want int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for n.Refused.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s refused %d handshakes, want %d", n.Site, n.Refused.Load(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A crossing that is not a configured peer, and a crossing presenting a
// certificate that names a configured peer but comes from its own CA, are
// both refused at the handshake; neither gets a leaf connection.
func TestUnknownAndForgedPeersRefused(t *testing.T) {
	dir := t.TempDir()
	sa, sb := blotest.NewSite(t, dir, "kordai"), blotest.NewSite(t, dir, "akzhol")
	third := blotest.NewSite(t, dir, "tashkent")
	forged := blotest.IssueLink(t, t.TempDir(), "akzhol", third.CA) // names akzhol, signed by tashkent's CA
	addr := blotest.FreeAddr(t)
	a, err := HubNode("kordai", &Config{Listen: addr, Cert: sa.CertFile, Key: sa.KeyFile,
		Neighbours: []Neighbour{{Peer: Peer{Site: "akzhol", CA: sb.CAFile}}}}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	// tashkent dials kordai, trusting kordai's CA: kordai refuses it.
	c, err := HubNode("tashkent", &Config{Cert: third.CertFile, Key: third.KeyFile,
		Neighbours: []Neighbour{{Peer: Peer{Site: "kordai", CA: sa.CAFile, URLs: []string{"tls://" + addr}}}}}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitRefused(t, a, 1)
	c.Close()

	// A hub presenting a certificate for akzhol from tashkent's CA.
	f, err := HubNode("akzhol", &Config{Cert: forged.CertFile, Key: forged.KeyFile,
		Neighbours: []Neighbour{{Peer: Peer{Site: "kordai", CA: sa.CAFile, URLs: []string{"tls://" + addr}}}}}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitRefused(t, a, 2)
	f.Close()
	if n := a.Server().NumLeafNodes(); n != 0 {
		t.Fatalf("kordai has %d leaf connections after refusing both", n)
	}

	// The real akzhol is admitted.
	b, err := HubNode("akzhol", &Config{Cert: sb.CertFile, Key: sb.KeyFile,
		Neighbours: []Neighbour{{Peer: Peer{Site: "kordai", CA: sa.CAFile, URLs: []string{"tls://" + addr}}}}}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	deadline := time.Now().Add(20 * time.Second)
	for a.Server().NumLeafNodes() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the configured peer was not admitted")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The dialling side checks the server too: a listener presenting another
// site's certificate is not the configured peer.
func TestDialRefusesWrongServer(t *testing.T) {
	dir := t.TempDir()
	sa, sb := blotest.NewSite(t, dir, "kordai"), blotest.NewSite(t, dir, "akzhol")
	third := blotest.NewSite(t, dir, "tashkent")
	addr := blotest.FreeAddr(t)
	// tashkent listens where akzhol expects kordai, and would accept akzhol.
	c, err := HubNode("tashkent", &Config{Listen: addr, Cert: third.CertFile, Key: third.KeyFile,
		Neighbours: []Neighbour{{Peer: Peer{Site: "akzhol", CA: sb.CAFile}}}}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := HubNode("akzhol", &Config{Cert: sb.CertFile, Key: sb.KeyFile,
		Neighbours: []Neighbour{{Peer: Peer{Site: "kordai", CA: sa.CAFile, URLs: []string{"tls://" + addr}}}}}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	waitRefused(t, b, 1)
	if n := b.Server().NumLeafNodes(); n != 0 {
		t.Fatalf("akzhol linked to an impostor (%d leaf connections)", n)
	}
}

// A neighbour cannot publish into what this hub sends (its OUT stream),
// from either end of the link, and cannot reach the hub's uplink.
func TestNeighbourCannotWriteOrReadBeyondExport(t *testing.T) {
	a, b, _, _ := pair(t) // a accepts, b dials
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := func(n *Node, acc string) (*nats.Conn, jetstream.JetStream) {
		nc, err := n.Connect(acc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, _ := jetstream.New(nc)
		return nc, js
	}
	nca, jsa := conn(a, NbAccount("akzhol"))
	ncb, jsb := conn(b, NbAccount("kordai"))
	waitLinked(t, a, b)

	for _, c := range []struct {
		name           string
		victim         *nats.Conn
		victimJS       jetstream.JetStream
		victimSite     string
		attacker       *nats.Conn
		attackerSite   string
		victimOutTopic string
	}{
		{"into the accepting hub", nca, jsa, "kordai", ncb, "akzhol", NbSubject("kordai", "akzhol", KindShare)},
		{"into the dialling hub", ncb, jsb, "akzhol", nca, "kordai", NbSubject("akzhol", "kordai", KindShare)},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The probe is a subscription at the victim: once the attacker's
			// marker, sent after the forgery on the same link, reaches it,
			// the forgery has been dealt with.
			probe := "probe." + c.victimSite + ".marker"
			got := make(chan struct{}, 1)
			sub, err := c.victim.Subscribe("probe."+c.victimSite+".>", func(m *nats.Msg) {
				if m.Reply != "" {
					m.Respond(nil)
					return
				}
				got <- struct{}{}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			c.victim.Flush()
			waitInterest(t, c.attacker, "probe."+c.victimSite+".ping")
			if err := c.attacker.Publish(c.victimOutTopic, []byte(`{"forged":true}`)); err != nil {
				t.Fatal(err)
			}
			c.attacker.Publish(probe, nil)
			select {
			case <-got:
			case <-time.After(20 * time.Second):
				t.Fatal("marker never arrived")
			}
			ack, err := c.victimJS.Publish(ctx, c.victimOutTopic, []byte(`{"own":true}`))
			if err != nil {
				t.Fatal(err)
			}
			if ack.Sequence != 1 {
				t.Fatalf("the victim's own message is #%d in its OUT: the forgery got in", ack.Sequence)
			}
		})
	}
	// The neighbour's account at a hub holds no uplink.
	_, err := jsb.Stream(ctx, "x") // warm up
	_ = err
	js, _ := jetstream.NewWithDomain(ncb, "kordai")
	if _, err := js.Stream(ctx, UplinkStream); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("akzhol looked up kordai's uplink: %v", err)
	}
	if _, err := js.Stream(ctx, OutStream); err != nil {
		t.Fatalf("akzhol cannot see what kordai exports to it: %v", err)
	}
}

func waitLinked(t *testing.T, nodes ...*Node) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range nodes {
		for n.Server().NumLeafNodes() == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s has no link", n.Site)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// waitInterest waits until a request on subject from nc gets through: the
// interest of a subscription across the link has arrived.
func waitInterest(t *testing.T, nc *nats.Conn, subject string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := nc.Request(subject, nil, 200*time.Millisecond); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no interest in %s across the link", subject)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
