package centre_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kordon/kordon/blo"
	"github.com/kordon/kordon/blo/blotest"
	"github.com/kordon/kordon/centre"
	"github.com/kordon/kordon/hub"
	"github.com/kordon/kordon/internal/contract"
)

// Messages the centre's durable handed out that never reached
// kordon-centre (a pull answered while its connection to a node was being
// lost: the server counts them delivered) come again and are stored. They
// were lost when the centre acknowledged with "ack all": the next batch's
// acknowledgement covered them, and the feed reported nothing pending
// while the database was short.
func TestCentreStoresWhatWasDeliveredButNeverReceived(t *testing.T) {
	if testing.Short() {
		t.Skip("real NATS cluster and PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := &world{dir: t.TempDir(), sites: map[string]*blotest.Site{}, hubs: map[string]*hub.Hub{}}
	for _, s := range []string{"kordai", "centre"} {
		w.sites[s] = blotest.NewSite(t, w.dir, s)
	}
	urls := startCentreNodes(t, w, "kordai")
	dsn := blotest.Postgres(t)
	hubDir := t.TempDir()
	db, err := openSim(hubDir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e, err := blo.Start("kordai", &blo.Config{Cert: w.sites["kordai"].CertFile, Key: w.sites["kordai"].KeyFile,
		Centre: &blo.Peer{Site: blo.CentreDomain, CA: w.sites["centre"].CAFile, URLs: w.centreLeafs()}},
		hubDir, filepath.Join(hubDir, "hub.db"), simSource{db}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Run(); err != nil {
		t.Fatal(err)
	}
	n := 0
	raise := func(k int) {
		for range k {
			n++
			a := contract.Alert{Schema: contract.AlertV1, ID: "sim-" + strconv.Itoa(n), Crossing: "kordai", Box: "b1", Device: "d1",
				Rule: "sim", Severity: "low", Summary: "simulated", Time: time.Now(), Raised: time.Now(), State: "open"}
			if err := commitAlert(db, e, a); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg := centreConfig(w, urls, []string{"kordai"}, dsn)
	cfg.Replicas, cfg.AckWait = 3, 2*time.Second
	run := func() (*centre.Centre, func()) {
		cctx, stop := context.WithCancel(ctx)
		c, err := centre.New(cctx, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Run(cctx)
		return c, func() { stop(); c.Wait(); c.Close() }
	}
	stored := func(c *centre.Centre) int {
		var k int
		c.DB().Pool().QueryRow(ctx, `SELECT count(*) FROM alerts`).Scan(&k)
		return k
	}

	c, stop := run()
	raise(50)
	waitFor(t, 60*time.Second, "the first 50 alerts at the centre", func() bool { return stored(c) == 50 })
	stop()

	nc := reader(t, w, urls, "kordai")
	defer nc.Close()
	js, _ := jetstream.New(nc)
	raise(50)
	waitFor(t, 60*time.Second, "100 alerts and their log entries in the feed", func() bool {
		s, err := js.Stream(ctx, blo.FeedStream)
		if err != nil {
			return false
		}
		info, err := s.Info(ctx)
		return err == nil && info.State.Msgs == 200
	})
	// 20 messages delivered to nobody: fetched and dropped, as a pull
	// answered into a dying connection is.
	cons, err := js.Consumer(ctx, blo.FeedStream, "pg")
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(20, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	dropped := 0
	for range batch.Messages() {
		dropped++
	}
	if dropped != 20 {
		t.Fatalf("dropped %d, want 20", dropped)
	}

	c, stop = run()
	defer stop()
	waitFor(t, 30*time.Second, "all 100 at the centre (20 of them delivered once to nobody)", func() bool { return stored(c) == 100 })
	var distinct, rows int
	c.DB().Pool().QueryRow(ctx, `SELECT count(DISTINCT id), count(*) FROM alerts`).Scan(&distinct, &rows)
	if distinct != 100 || rows != 100 {
		t.Fatalf("%d rows, %d distinct", rows, distinct)
	}
}
