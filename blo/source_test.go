package blo

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kordon/kordon/blo/blotest"
)

// The centre's FEED resumes from what it acknowledged to the hub, not from
// what it still holds: with a FEED whose messages expire (MaxAge shorter
// than the partition), a partition of every link and a change of the
// FEED's leader while it is empty, every message sent during the
// partition reaches the centre, once each, as soon as the links are back.
// It logs how long the first message took at a fresh centre and how long
// after the links came back the last one arrived.
func TestFeedResumesFromAcknowledgedAfterExpiryAndPartition(t *testing.T) {
	dir := t.TempDir()
	sa := blotest.NewSite(t, dir, "kordai")
	centre := startCentre(t, sa)
	var proxies []*blotest.Proxy
	var urls []string
	for _, cfg := range centre.cfgs {
		p := blotest.NewProxy(t, cfg.LeafListen)
		proxies = append(proxies, p)
		urls = append(urls, "tls://"+p.Addr)
	}
	hub, err := HubNode("kordai", &Config{Cert: sa.CertFile, Key: sa.KeyFile,
		Centre: &Peer{Site: CentreDomain, CA: centre.site.CAFile, URLs: urls}}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	nc, _ := hub.Connect(HubAccount)
	defer nc.Close()
	hjs, _ := jetstream.New(nc)
	sent := 0
	send := func(n int) {
		for range n {
			sent++
			id := "kordai:alert:kordai:" + strconv.Itoa(sent)
			if _, err := hjs.Publish(ctx, UpSubject("kordai", KindAlert), []byte(`{}`), jetstream.WithMsgID(id)); err != nil {
				t.Fatal(err)
			}
		}
	}

	js := centre.reader(t, "kordai")
	start := time.Now()
	feed, err := EnsureFeed(ctx, js, "kordai", 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fresh centre: the FEED created in %v", time.Since(start).Round(time.Millisecond))
	cfg := feed.CachedInfo().Config
	cfg.MaxAge, cfg.Duplicates = 2*time.Second, time.Second
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string]int{}
	var first time.Time
	cons, err := feed.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "t", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		mu.Lock()
		if first.IsZero() {
			first = time.Now()
		}
		got[m.Headers().Get(jetstream.MsgIDHeader)]++
		mu.Unlock()
		m.Ack()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()
	arrived := func(n int) func() bool {
		return func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= n }
	}
	published := time.Now()
	send(10)
	waitFor(t, "the first ten at the centre", arrived(10))
	mu.Lock()
	t.Logf("fresh centre: first message at the centre %v after it was sent (%v after the feed was created)",
		first.Sub(published).Round(time.Millisecond), first.Sub(start).Round(time.Millisecond))
	mu.Unlock()

	for _, p := range proxies {
		p.Cut()
	}
	send(20)
	waitFor(t, "the FEED emptied by its MaxAge", func() bool {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		info, err := feed.Info(c)
		return err == nil && info.State.Msgs == 0 && info.State.FirstSeq > 1
	})
	mu.Lock()
	during := len(got)
	mu.Unlock()
	if during != 10 {
		t.Fatalf("%d messages at the centre during the partition, want the first 10", during)
	}
	// A new leader must find where the source was without any message to look at.
	before, err := feed.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Conn().Request("$JS.API.STREAM.LEADER.STEPDOWN."+FeedStream, nil, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new leader of the FEED", func() bool {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		info, err := feed.Info(c)
		return err == nil && info.Cluster != nil && info.Cluster.Leader != "" && info.Cluster.Leader != before.Cluster.Leader
	})
	healed := time.Now()
	for _, p := range proxies {
		p.Heal()
	}
	waitFor(t, "all thirty at the centre", arrived(30))
	t.Logf("after the partition: the last message at the centre %v after the links were back", time.Since(healed).Round(time.Millisecond))
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i <= sent; i++ {
		if n := got["kordai:alert:kordai:"+strconv.Itoa(i)]; n != 1 {
			t.Errorf("message %d at the centre %d times, want once", i, n)
		}
	}
}
