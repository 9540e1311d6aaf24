package centre_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"

	"github.com/kordon/kordon/blo"
	"github.com/kordon/kordon/blo/blotest"
	"github.com/kordon/kordon/centre"
	"github.com/kordon/kordon/drivers/all"
	"github.com/kordon/kordon/edge"
	"github.com/kordon/kordon/hub"
	"github.com/kordon/kordon/hub/dash"
	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/logging"
)

// world is two crossings facing each other and the centre, all real:
// hubd (mochi, SQLite, rules) with its embedded NATS node, three clustered
// centre nodes, kordon-centre's consumer and a private PostgreSQL.
type world struct {
	dir           string
	sites         map[string]*blotest.Site
	centreNodes   []*blo.Node
	centreCfgs    []*blo.CentreNodeConfig
	centre        *centre.Centre
	hubs          map[string]*hub.Hub
	kordaiLeaf    string
	cancelConsume context.CancelFunc
}

func bcryptHash(t *testing.T, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func startCentre(t *testing.T, w *world, crossings ...string) {
	urls := startCentreNodes(t, w, crossings...)
	ctx, cancel := context.WithCancel(context.Background())
	c, err := centre.New(ctx, centreConfig(w, urls, crossings, blotest.Postgres(t)), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Run(ctx)
	w.centre, w.cancelConsume = c, cancel
	t.Cleanup(func() {
		cancel()
		c.Wait()
		c.Close()
	})
}

// centreConfig is kordon-centre's configuration for w's centre: mutual
// TLS to the nodes with the centre's certificate.
func centreConfig(w *world, urls, crossings []string, dsn string) centre.Config {
	cs := w.sites["centre"]
	return centre.Config{NATS: urls, ReaderUser: "centre", ReaderPassword: "pw", Crossings: crossings, DSN: dsn,
		Cert: cs.CertFile, Key: cs.KeyFile, CA: cs.CAFile}
}

// reader connects to w's centre as kordon-centre does, in crossing's account.
func reader(t *testing.T, w *world, urls []string, crossing string) *nats.Conn {
	t.Helper()
	cs := w.sites["centre"]
	tc, err := blo.CentreClientTLS(cs.CertFile, cs.KeyFile, cs.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.UserInfo(blo.ReaderName("centre", crossing), "pw"), nats.Secure(tc))
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

// startCentreNodes starts the centre's three clustered nodes admitting
// crossings and returns their client URLs.
func startCentreNodes(t *testing.T, w *world, crossings ...string) []string {
	var peers []blo.Peer
	for _, x := range crossings {
		peers = append(peers, blo.Peer{Site: x, CA: w.sites[x].CAFile})
	}
	var routes []string
	for i := range 3 {
		cfg := &blo.CentreNodeConfig{Name: fmt.Sprintf("c%d", i+1), Listen: blotest.FreeAddr(t), LeafListen: blotest.FreeAddr(t),
			ClusterListen: blotest.FreeAddr(t), Cert: w.sites["centre"].CertFile, Key: w.sites["centre"].KeyFile, CA: w.sites["centre"].CAFile,
			StoreDir: filepath.Join(w.dir, fmt.Sprintf("c%d", i+1)), Crossings: peers, ReaderUser: "centre", ReaderPassword: "pw"}
		routes = append(routes, "nats-route://"+cfg.ClusterListen)
		w.centreCfgs = append(w.centreCfgs, cfg)
	}
	w.centreNodes = make([]*blo.Node, 3)
	errs := make(chan error, 3)
	for i, cfg := range w.centreCfgs {
		cfg.Routes = routes
		go func() {
			n, err := blo.CentreNode(cfg, nil)
			w.centreNodes[i] = n
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, n := range w.centreNodes {
			if n != nil {
				n.Close()
			}
		}
	})
	var urls []string
	for _, c := range w.centreCfgs {
		urls = append(urls, "nats://"+c.Listen)
	}
	return urls
}

func (w *world) centreLeafs() []string {
	var u []string
	for _, c := range w.centreCfgs {
		u = append(u, "tls://"+c.LeafListen)
	}
	return u
}

func startHub(t *testing.T, w *world, crossing string, nb blo.Neighbour, listen string) *hub.Hub {
	cfg := &hub.Config{Crossing: crossing, MQTT: "127.0.0.1:0", HTTP: "127.0.0.1:0", DataDir: t.TempDir(),
		Boxes: []hub.BoxCreds{{Box: "lane-01", PasswordHash: bcryptHash(t, "pwl")}},
		Users: []dash.User{{User: "officer", Name: "Officer " + crossing, Role: dash.RoleOfficer, PasswordHash: bcryptHash(t, "officerpw")}}}
	cfg.BLO = &blo.Config{Listen: listen, Cert: w.sites[crossing].CertFile, Key: w.sites[crossing].KeyFile,
		Neighbours: []blo.Neighbour{nb},
		Centre:     &blo.Peer{Site: blo.CentreDomain, CA: w.sites["centre"].CAFile, URLs: w.centreLeafs()}}
	h, err := hub.New(cfg, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	w.hubs[crossing] = h
	return h
}

func newWorld(t *testing.T) *world {
	w := &world{dir: t.TempDir(), sites: map[string]*blotest.Site{}, hubs: map[string]*hub.Hub{}}
	for _, s := range []string{"kordai", "akzhol", "centre"} {
		w.sites[s] = blotest.NewSite(t, w.dir, s)
	}
	blotest.WriteFile(t, filepath.Join(w.dir, "shared.key"), "00112233445566778899aabbccddeeff\n")
	pk := filepath.Join(w.dir, "kordai-akzhol.yaml")
	blotest.WriteFile(t, pk, `policy: kordai-akzhol/1
neighbour: akzhol
auto: [{rule: rpm-alarm}, {rule: document-watchlist}]
manual: [{rule: "*"}]
handling_codes: [H1, H2, H3]
alert_fields: [summary, severity, time]
reading_fields: [/payload/event, /payload/alarm/channel, /payload/alarm/sigma]
document_key: {key_file: shared.key}
`)
	pa := filepath.Join(w.dir, "akzhol-kordai.yaml")
	blotest.WriteFile(t, pa, "policy: akzhol-kordai/1\nneighbour: kordai\nauto: [{rule: rpm-alarm}]\n")
	startCentre(t, w, "kordai", "akzhol")
	w.kordaiLeaf = blotest.FreeAddr(t)
	startHub(t, w, "kordai", blo.Neighbour{Peer: blo.Peer{Site: "akzhol", CA: w.sites["akzhol"].CAFile}, Policy: pk}, w.kordaiLeaf)
	startHub(t, w, "akzhol", blo.Neighbour{Peer: blo.Peer{Site: "kordai", CA: w.sites["kordai"].CAFile, URLs: []string{"tls://" + w.kordaiLeaf}}, Policy: pa}, "")
	return w
}

// startRPM runs a real edged at crossing with a radiation portal monitor
// on a pty, fed by the source trace (one alarm).
func startRPM(t *testing.T, ctx context.Context, h *hub.Hub, crossing string) {
	tr, err := trace.ReadFile("../drivers/rpm/testdata/traces/source.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	p, err := replay.OpenPTY(filepath.Join(t.TempDir(), "tty"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	src := fmt.Sprintf("crossing: %s\nbox: lane-01\nstate_dir: %s\nhub: {address: %q, username: lane-01, password: pwl}\ndevices:\n"+
		"  - id: rpm1\n    driver: rpm\n    transport: {type: serial, path: %s}\n    options: {k: 5}\n",
		crossing, t.TempDir(), "tcp://"+h.MQTTAddr(), p.Path)
	cfg, devs, err := edge.ParseConfig("box.yaml", []byte(src), all.Drivers())
	if err != nil {
		t.Fatal(err)
	}
	b, err := edge.New(cfg, devs, all.Drivers(), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	bctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); b.Run(bctx) }()
	t.Cleanup(func() { cancel(); <-done })
	go replay.Serial(bctx, tr, p.Device, replay.Options{})
}

func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > within {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// An alarm at Kordai's radiation portal is shared automatically: Ak-Zhol
// has it with only the policy's fields, acknowledges it, Kordai sees the
// receipts, and the centre has the alert, its receipts' audit lines from
// both crossings, and the hub's health, once each.
func TestAlarmCrossesToNeighbourAndCentre(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	w := newWorld(t)
	kordai, akzhol := w.hubs["kordai"], w.hubs["akzhol"]
	startRPM(t, ctx, kordai, "kordai")

	waitFor(t, 60*time.Second, "the alarm at kordai", func() bool { return kordai.Counters().Alerts == 1 })
	raisedAt := time.Now()
	var in []blo.Incoming
	shareLatency := waitFor(t, 10*time.Second, "the share at akzhol", func() bool {
		in, _ = akzhol.BLO().Incoming(ctx, 10)
		return len(in) == 1
	})
	sh := in[0].Share
	js, _ := json.Marshal(sh)
	t.Logf("share latency (alert stored at kordai -> stored at akzhol): %v", shareLatency)
	if sh.Rule != "rpm-alarm" || !strings.HasPrefix(sh.AlertID, "kordai:") || sh.Fields["/payload/alarm/channel"] != "gamma" || !sh.Automatic {
		t.Fatalf("share %s", js)
	}
	for _, f := range []string{`"box"`, `"device"`, "lane-01", "/payload/counts", "/raw"} {
		if strings.Contains(string(js), f) {
			t.Errorf("the share carries %s, which the policy does not name: %s", f, js)
		}
	}
	db := w.centre.DB().Pool()
	var atCentre int
	waitFor(t, 10*time.Second, "the alert at the centre", func() bool {
		db.QueryRow(ctx, `SELECT count(*) FROM alerts WHERE id = $1`, sh.AlertID).Scan(&atCentre)
		return atCentre == 1
	})
	t.Logf("centre latency (alert stored at kordai -> in PostgreSQL, at a fresh centre): %v", time.Since(raisedAt))

	if err := akzhol.BLO().Acknowledge(sh.ID, "officer-kg"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "receipts at kordai", func() bool {
		s, _ := kordai.BLO().Sent(ctx, strings.TrimPrefix(sh.AlertID, "kordai:"))
		return len(s) == 1 && s[0].Receipts[blo.Delivered] != "" && s[0].Receipts[blo.Seen] != "" && s[0].Receipts[blo.Acknowledged] != ""
	})
	// kordai: sent share + 3 receipts received; akzhol: received share + 3 receipts sent.
	waitFor(t, 10*time.Second, "both audit logs at the centre", func() bool {
		var k, a int
		db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE crossing='kordai'), count(*) FILTER (WHERE crossing='akzhol') FROM audit`).Scan(&k, &a)
		return k == 4 && a == 4
	})
	waitFor(t, 10*time.Second, "the box's health at the centre", func() bool {
		var n int
		db.QueryRow(ctx, `SELECT count(*) FROM health WHERE crossing='kordai' AND box='lane-01'`).Scan(&n)
		return n >= 1
	})
	var msgs, dup int
	db.QueryRow(ctx, `SELECT count(*) FROM alerts`).Scan(&msgs)
	if msgs != 1 {
		t.Errorf("%d alerts at the centre, want 1", msgs)
	}
	db.QueryRow(ctx, `SELECT count(*) FROM refused`).Scan(&dup)
	if dup != 0 {
		t.Errorf("%d messages refused at the centre", dup)
	}
}
