package blo

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kordon/kordon/blo/blotest"
)

// pair starts two hubs facing each other: a accepts, b dials.
func pair(t *testing.T) (*Node, *Node, *blotest.Site, *blotest.Site) {
	dir := t.TempDir()
	sa, sb := blotest.NewSite(t, dir, "kordai"), blotest.NewSite(t, dir, "akzhol")
	addr := blotest.FreeAddr(t)
	a, err := HubNode("kordai", &Config{Listen: addr, Cert: sa.CertFile, Key: sa.KeyFile,
		Neighbours: []Neighbour{{Peer: Peer{Site: "akzhol", CA: sb.CAFile}}}}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	b, err := HubNode("akzhol", &Config{Cert: sb.CertFile, Key: sb.KeyFile,
		Neighbours: []Neighbour{{Peer: Peer{Site: "kordai", CA: sa.CAFile, URLs: []string{"tls://" + addr}}}}}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return a, b, sa, sb
}

func TestNeighbourSourcesOut(t *testing.T) {
	a, b, _, _ := pair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nca, err := a.Connect(NbAccount("akzhol"))
	if err != nil {
		t.Fatal(err)
	}
	defer nca.Close()
	jsa, _ := jetstream.New(nca)
	if _, err := jsa.Publish(ctx, NbSubject("kordai", "akzhol", KindShare), []byte(`{"x":1}`), jetstream.WithMsgID("m1")); err != nil {
		t.Fatal(err)
	}
	ncb, err := b.Connect(NbAccount("kordai"))
	if err != nil {
		t.Fatal(err)
	}
	defer ncb.Close()
	jsb, _ := jetstream.New(ncb)
	s, err := jsb.Stream(ctx, InStream)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "t", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Next(jetstream.FetchMaxWait(20 * time.Second))
	if err != nil {
		t.Fatalf("nothing sourced: %v (links a=%v b=%v)", err, a.Links(), b.Links())
	}
	if m.Subject() != NbSubject("kordai", "akzhol", KindShare) || string(m.Data()) != `{"x":1}` {
		t.Fatalf("got %s %s", m.Subject(), m.Data())
	}
}
