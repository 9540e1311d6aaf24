package blo

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kordon/kordon/blo/blotest"
)

// testCentre is three clustered centre nodes admitting the given crossings.
type testCentre struct {
	cfgs  []*CentreNodeConfig
	nodes []*Node
	site  *blotest.Site
}

func startCentre(t *testing.T, crossings ...*blotest.Site) *testCentre {
	t.Helper()
	dir := t.TempDir()
	site := blotest.NewSite(t, dir, CentreDomain)
	c := &testCentre{site: site}
	var peers []Peer
	for _, x := range crossings {
		peers = append(peers, Peer{Site: x.ID, CA: x.CAFile})
	}
	var routes []string
	for i := 0; i < 3; i++ {
		cfg := &CentreNodeConfig{Name: fmt.Sprintf("c%d", i+1), Listen: blotest.FreeAddr(t), LeafListen: blotest.FreeAddr(t),
			ClusterListen: blotest.FreeAddr(t), Cert: site.CertFile, Key: site.KeyFile, CA: site.CAFile,
			StoreDir: filepath.Join(dir, fmt.Sprintf("c%d", i+1)), Crossings: peers, ReaderUser: "centre", ReaderPassword: "pw"}
		routes = append(routes, "nats-route://"+cfg.ClusterListen)
		c.cfgs = append(c.cfgs, cfg)
	}
	for _, cfg := range c.cfgs {
		cfg.Routes = routes
	}
	c.nodes = make([]*Node, 3)
	errs := make(chan error, 3)
	for i, cfg := range c.cfgs {
		go func() {
			n, err := CentreNode(cfg, nil)
			c.nodes[i] = n
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			if n != nil {
				n.Close()
			}
		}
	})
	return c
}

func (c *testCentre) leafURLs() []string {
	var u []string
	for _, cfg := range c.cfgs {
		u = append(u, "tls://"+cfg.LeafListen)
	}
	return u
}

func (c *testCentre) reader(t *testing.T, crossing string) jetstream.JetStream {
	t.Helper()
	var urls string
	for i, cfg := range c.cfgs {
		if i > 0 {
			urls += ","
		}
		urls += "nats://" + cfg.Listen
	}
	tc, err := CentreClientTLS(c.site.CertFile, c.site.KeyFile, c.site.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(urls, nats.UserInfo(ReaderName("centre", crossing), "pw"), nats.MaxReconnects(-1), nats.Secure(tc))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	return js
}

func TestUplinkSourcedIntoReplicatedFeed(t *testing.T) {
	dir := t.TempDir()
	sa := blotest.NewSite(t, dir, "kordai")
	centre := startCentre(t, sa)
	hub, err := HubNode("kordai", &Config{Cert: sa.CertFile, Key: sa.KeyFile,
		Centre: &Peer{Site: CentreDomain, CA: centre.site.CAFile, URLs: centre.leafURLs()}}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nc, _ := hub.Connect(HubAccount)
	defer nc.Close()
	hjs, _ := jetstream.New(nc)
	if _, err := hjs.Publish(ctx, UpSubject("kordai", KindAlert), []byte(`{"a":1}`), jetstream.WithMsgID("alert:kordai:1")); err != nil {
		t.Fatal(err)
	}
	js := centre.reader(t, "kordai")
	feed, err := EnsureFeed(ctx, js, "kordai", 3)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := feed.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "t", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	// A consumer just made on a replicated feed answers once its leader is
	// chosen; until then a pull finds no responder.
	var m jetstream.Msg
	for {
		m, err = cons.Next(jetstream.FetchMaxWait(30 * time.Second))
		if !errors.Is(err, nats.ErrNoResponders) || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("nothing at the centre: %v", err)
	}
	if m.Headers().Get(jetstream.MsgIDHeader) != "alert:kordai:1" {
		t.Fatalf("message id lost: %v", m.Headers())
	}
	info, _ := feed.Info(ctx)
	if info.Config.Replicas != 3 || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("feed replicas: %+v", info.Cluster)
	}
}

// At the centre too: a crossing the centre does not know, and a hub
// presenting a certificate that names another crossing (issued by its own
// CA), are refused; neither gets a leaf connection.
func TestCentreRefusesUnknownAndForgedCrossings(t *testing.T) {
	dir := t.TempDir()
	sa, sb := blotest.NewSite(t, dir, "kordai"), blotest.NewSite(t, dir, "akzhol")
	centre := startCentre(t, sa, sb)
	third := blotest.NewSite(t, dir, "tashkent")
	forged := blotest.IssueLink(t, t.TempDir(), "akzhol", sa.CA) // kordai's CA naming akzhol
	var refused int64
	for _, c := range []struct {
		site string
		s    *blotest.Site
	}{{"tashkent", third}, {"akzhol", forged}} {
		hub, err := HubNode(c.site, &Config{Cert: c.s.CertFile, Key: c.s.KeyFile,
			Centre: &Peer{Site: CentreDomain, CA: centre.site.CAFile, URLs: centre.leafURLs()[:1]}}, t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		refused++
		deadline := time.Now().Add(20 * time.Second)
		for centre.nodes[0].Refused.Load() < refused {
			if time.Now().After(deadline) {
				t.Fatalf("%s (%s) was not refused", c.site, c.s.CertFile)
			}
			time.Sleep(20 * time.Millisecond)
		}
		hub.Close()
	}
	if n := centre.nodes[0].Server().NumLeafNodes(); n != 0 {
		t.Fatalf("the centre node has %d leaf connections", n)
	}
}

// Inside the centre, links are mutual TLS too: kordon-centre's client
// connections need a certificate naming the centre from the centre's own
// CA (none, and a crossing's, are refused), and a node whose certificate
// is not from that CA gets no route into the cluster.
func TestCentreClientsAndRoutesAreMutualTLS(t *testing.T) {
	dir := t.TempDir()
	sa := blotest.NewSite(t, dir, "kordai")
	centre := startCentre(t, sa)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The cluster formed over its TLS routes: a feed gets its three replicas.
	if _, err := EnsureFeed(ctx, centre.reader(t, "kordai"), "kordai", 3); err != nil {
		t.Fatalf("replicated feed over TLS routes: %v", err)
	}
	url := "nats://" + centre.cfgs[0].Listen
	user := nats.UserInfo(ReaderName("centre", "kordai"), "pw")
	if nc, err := nats.Connect(url, user); err == nil {
		nc.Close()
		t.Fatal("a plain connection was admitted")
	}
	before := centre.nodes[0].Refused.Load()
	for name, certs := range map[string]*blotest.Site{"no certificate": nil, "a crossing's certificate": sa} {
		tc := &tls.Config{InsecureSkipVerify: true}
		if certs != nil {
			c, err := tls.LoadX509KeyPair(certs.CertFile, certs.KeyFile)
			if err != nil {
				t.Fatal(err)
			}
			tc.Certificates = []tls.Certificate{c}
		}
		if nc, err := nats.Connect(url, user, nats.Secure(tc)); err == nil {
			nc.Close()
			t.Fatalf("a connection with %s was admitted", name)
		}
	}
	// (a handshake without a certificate fails before there is one to check)
	if r := centre.nodes[0].Refused.Load(); r < before+1 {
		t.Errorf("refused handshakes counted %d, want at least %d", r, before+1)
	}

	// A route from a certificate of another CA that names the centre is
	// refused by the node it dials ...
	rogue := blotest.NewSite(t, t.TempDir(), CentreDomain)
	rc, err := tls.LoadX509KeyPair(rogue.CertFile, rogue.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	before = centre.nodes[0].Refused.Load()
	conn, err := net.DialTimeout("tcp", centre.cfgs[0].ClusterListen, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	tconn := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{rc}})
	err = tconn.Handshake()
	if err == nil {
		_, err = tconn.Read(make([]byte, 1)) // TLS 1.3: the server's refusal arrives after the client's finish
	}
	tconn.Close()
	if err == nil {
		t.Fatal("a route with another CA's certificate was admitted")
	}
	waitFor(t, "the route refused and counted", func() bool { return centre.nodes[0].Refused.Load() > before })

	// ... and a node started with it refuses the cluster's nodes in turn:
	// it never joins.
	cfg := &CentreNodeConfig{Name: "c4", Listen: blotest.FreeAddr(t), LeafListen: blotest.FreeAddr(t), ClusterListen: blotest.FreeAddr(t),
		Cert: rogue.CertFile, Key: rogue.KeyFile, CA: rogue.CAFile, StoreDir: t.TempDir(), Crossings: []Peer{{Site: "kordai", CA: sa.CAFile}},
		ReaderUser: "centre", ReaderPassword: "pw", Routes: centre.cfgs[0].Routes}
	n, err := CentreNode(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	waitFor(t, "the rogue node refusing the cluster", func() bool { return n.Refused.Load() > 0 })
	rz, err := centre.nodes[0].Server().Routez(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rz.Routes {
		if r.RemoteName == "c4" {
			t.Fatalf("the rogue node has a route: %+v", r)
		}
	}
}
