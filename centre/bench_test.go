package centre_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kordon/kordon/blo"
	"github.com/kordon/kordon/blo/blotest"
	"github.com/kordon/kordon/centre"
	"github.com/kordon/kordon/internal/contract"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkCentreFeed simulates many crossings feeding the centre: each
// crossing is a real hub node (embedded NATS, JetStream in its own domain,
// TLS leaf link to the centre) whose uplink holds a burst of alerts; the
// centre (three clustered nodes, replicated feeds, kordon-centre,
// PostgreSQL) takes them all. It prints messages/s end to end, the
// centre's lag (alert raised -> in PostgreSQL, and the backlog sampled
// while it drains), and beside it the peer figure: the same alerts
// written straight into PostgreSQL by the same Take, the ratio of the two.
//
//	go test -run '^$' -bench CentreFeed -benchtime 1x ./centre/
//	KORDON_BENCH_CROSSINGS=300 KORDON_BENCH_ALERTS=20 KORDON_BENCH_REPLICAS=3 (defaults)
func BenchmarkCentreFeed(b *testing.B) {
	crossings := envInt("KORDON_BENCH_CROSSINGS", 300)
	perCrossing := envInt("KORDON_BENCH_ALERTS", 20)
	replicas := envInt("KORDON_BENCH_REPLICAS", 3)
	dir := b.TempDir()
	cs := blotest.NewSite(b, dir, "centre")
	ca := blotest.NewSite(b, dir, "xca") // one CA for the simulated crossings keeps the set-up short
	var peers []blo.Peer
	var names []string
	for i := range crossings {
		x := fmt.Sprintf("x%03d", i)
		names = append(names, x)
		peers = append(peers, blo.Peer{Site: x, CA: ca.CAFile})
	}
	var cfgs []*blo.CentreNodeConfig
	var routes, urls, leafs []string
	for i := range 3 {
		cfg := &blo.CentreNodeConfig{Name: fmt.Sprintf("c%d", i+1), Listen: blotest.FreeAddr(b), LeafListen: blotest.FreeAddr(b),
			ClusterListen: blotest.FreeAddr(b), Cert: cs.CertFile, Key: cs.KeyFile, CA: cs.CAFile, StoreDir: filepath.Join(dir, fmt.Sprintf("c%d", i+1)),
			Crossings: peers, ReaderUser: "centre", ReaderPassword: "pw", MaxBytes: 4 << 30}
		routes = append(routes, "nats-route://"+cfg.ClusterListen)
		urls = append(urls, "nats://"+cfg.Listen)
		leafs = append(leafs, "tls://"+cfg.LeafListen)
		cfgs = append(cfgs, cfg)
	}
	nodes := make([]*blo.Node, 3)
	var wg sync.WaitGroup
	for i, cfg := range cfgs {
		cfg.Routes = routes
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := blo.CentreNode(cfg, nil)
			if err != nil {
				b.Error(err)
			}
			nodes[i] = n
		}()
	}
	wg.Wait()
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.Close()
			}
		}
	}()
	dsn := blotest.Postgres(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	// The simulated crossings: their links' certificates, their nodes and
	// a burst of alerts each, published before the centre consumes.
	hubs := make([]*blo.Node, crossings)
	setup := time.Now()
	sem := make(chan struct{}, 8)
	for i, x := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			site := blotest.IssueLink(b, dir, x, ca.CA)
			n, err := blo.HubNode(x, &blo.Config{Cert: site.CertFile, Key: site.KeyFile, MaxBytes: 64 << 20,
				Centre: &blo.Peer{Site: blo.CentreDomain, CA: cs.CAFile, URLs: leafs}}, filepath.Join(dir, "hub-"+x), nil)
			if err != nil {
				b.Error(err)
				return
			}
			hubs[i] = n
			nc, _ := n.Connect(blo.HubAccount)
			defer nc.Close()
			js, _ := jetstream.New(nc)
			for k := range perCrossing {
				now := time.Now().UTC()
				a := contract.Alert{Schema: contract.AlertV1, ID: blo.GlobalID(x, "b"+strconv.Itoa(k)), Crossing: x, Box: "b1", Device: "d1",
					Rule: "sim", Severity: "low", Summary: "simulated", Time: now, Raised: now, State: "open"}
				body, _ := json.Marshal(blo.UpAlert{Alert: a})
				if _, err := js.Publish(ctx, blo.UpSubject(x, blo.KindAlert), body, jetstream.WithMsgID(x+":alert:"+a.ID)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, n := range hubs {
			if n != nil {
				n.Close()
			}
		}
	}()
	b.Logf("%d crossings up with %d alerts each in %v", crossings, perCrossing, time.Since(setup).Round(time.Second))
	total := crossings * perCrossing

	b.ResetTimer()
	c, err := centre.New(ctx, centre.Config{NATS: urls, ReaderUser: "centre", ReaderPassword: "pw", Crossings: names, DSN: dsn, Replicas: replicas,
		Cert: cs.CertFile, Key: cs.KeyFile, CA: cs.CAFile}, nil)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	c.Run(ctx)
	pool := c.DB().Pool()
	var n int
	maxBacklog := 0
	var first time.Duration
	for n < total {
		time.Sleep(100 * time.Millisecond)
		pool.QueryRow(ctx, `SELECT count(*) FROM alerts`).Scan(&n)
		if n > 0 && first == 0 {
			first = time.Since(start)
		}
		maxBacklog = max(maxBacklog, total-n)
		if ctx.Err() != nil {
			b.Fatalf("only %d of %d at the centre", n, total)
		}
	}
	took := time.Since(start)
	b.StopTimer()
	fmt.Fprintf(os.Stderr, "bench: burst of %d drained in %v\n", total, took)
	// A fresh centre: its feeds and consumers are created first.
	fmt.Fprintf(os.Stderr, "fresh centre: the first alert in PostgreSQL %v after kordon-centre started\n", first.Round(10*time.Millisecond))
	rate := float64(total) / took.Seconds()

	// Steady state: every crossing raises one alert a second for a while;
	// the lag is each one's time from raised to stored at the centre.
	const steady = 5
	for i, x := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, _ := hubs[i].Connect(blo.HubAccount)
			defer nc.Close()
			js, _ := jetstream.New(nc)
			for k := range steady {
				time.Sleep(time.Second)
				now := time.Now().UTC()
				a := contract.Alert{Schema: contract.AlertV1, ID: blo.GlobalID(x, "s"+strconv.Itoa(k)), Crossing: x, Box: "b1", Device: "d1",
					Rule: "sim", Severity: "low", Summary: "simulated", Time: now, Raised: now, State: "open"}
				body, _ := json.Marshal(blo.UpAlert{Alert: a})
				if _, err := js.Publish(ctx, blo.UpSubject(x, blo.KindAlert), body, jetstream.WithMsgID(x+":alert:"+a.ID)); err != nil {
					b.Errorf("%s: steady publish: %v", x, err)
				}
			}
		}()
	}
	wg.Wait()
	stuck := time.Now()
	for n < total+crossings*steady {
		time.Sleep(200 * time.Millisecond)
		pool.QueryRow(ctx, `SELECT count(*) FROM alerts`).Scan(&n)
		if time.Since(stuck) > time.Minute {
			stuck = time.Now()
			c.Refresh(ctx)
			for _, s := range c.Stats() {
				var got int
				pool.QueryRow(ctx, `SELECT count(*) FROM alerts WHERE crossing = $1`, s.Crossing).Scan(&got)
				if got < perCrossing+steady {
					fmt.Fprintf(os.Stderr, "bench: %s has %d of %d at the centre: %+v\n", s.Crossing, got, perCrossing+steady, s)
				}
			}
		}
		if ctx.Err() != nil {
			b.Fatalf("only %d of %d at the centre", n, total+crossings*steady)
		}
	}
	var lagP50, lagP99, lagMax float64
	pool.QueryRow(ctx, `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM taken - raised)),
		percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM taken - raised)),
		max(extract(epoch FROM taken - raised)) FROM alerts WHERE id LIKE '%:s%'`).Scan(&lagP50, &lagP99, &lagMax)

	// The peer: the same alerts straight into PostgreSQL through Take.
	peerDB, err := centre.OpenDB(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer peerDB.Close()
	pool.Exec(context.Background(), `TRUNCATE messages, alerts`)
	pstart := time.Now()
	for _, x := range names {
		var msgs []centre.Msg
		for k := range perCrossing {
			now := time.Now().UTC()
			a := contract.Alert{Schema: contract.AlertV1, ID: blo.GlobalID(x, "b"+strconv.Itoa(k)), Crossing: x, Box: "b1", Device: "d1",
				Rule: "sim", Severity: "low", Summary: "simulated", Time: now, Raised: now, State: "open"}
			body, _ := json.Marshal(blo.UpAlert{Alert: a})
			msgs = append(msgs, centre.Msg{ID: x + ":alert:" + a.ID, Subject: blo.UpSubject(x, blo.KindAlert), Data: body})
		}
		if _, _, _, err := peerDB.Take(context.Background(), x, msgs); err != nil {
			b.Fatal(err)
		}
	}
	peerRate := float64(total) / time.Since(pstart).Seconds()
	b.ReportMetric(rate, "msgs/s")
	b.ReportMetric(lagMax, "max-lag-s")
	fmt.Printf("centre feed: %d crossings x %d alerts = %d messages drained in %v: %.0f msgs/s end to end (R%d feeds), largest backlog %d\n",
		crossings, perCrossing, total, took.Round(time.Millisecond), rate, replicas, maxBacklog)
	fmt.Printf("centre lag, steady state (%d crossings, 1 alert/s each): raised -> in PostgreSQL p50 %.3fs p99 %.3fs max %.3fs\n",
		crossings, lagP50, lagP99, lagMax)
	fmt.Printf("peer, the same alerts straight into PostgreSQL by Take: %.0f msgs/s; centre/peer = %.2f\n", peerRate, rate/peerRate)
	cancel()
	c.Wait()
	c.Close()
}
