package centre_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"
	_ "modernc.org/sqlite"

	"github.com/kordon/kordon/blo"
	"github.com/kordon/kordon/blo/blotest"
	"github.com/kordon/kordon/centre"
	"github.com/kordon/kordon/internal/contract"
)

// The fault test runs the centre's nodes as child processes (this test
// binary again, chosen by KORDON_CHILD) and the hub as the real hubd, so
// that kill -9 is real.
func TestMain(m *testing.M) {
	switch os.Getenv("KORDON_CHILD") {
	case "centre-node":
		var cfg blo.CentreNodeConfig
		if err := json.Unmarshal([]byte(os.Getenv("KORDON_CHILD_CONF")), &cfg); err != nil {
			panic(err)
		}
		// The node's own log (elections, source set-ups) goes to the
		// child's log file, read when the test fails.
		n, err := blo.CentreNode(&cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		n.Server().WaitForShutdown()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// simSource is a hub's alerts table in SQLite, for tests that run the
// engine in-process: each commit is handed to the engine, as hubd does.
type simSource struct{ db *sql.DB }

// Each alert is its own "raised" log entry, its rowid the log's sequence.
func (s simSource) TransitionsAfter(ctx context.Context, seq int64, limit int) ([]blo.Transition, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT rowid, id FROM sim_alerts WHERE rowid > ? ORDER BY rowid LIMIT ?`, seq, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []blo.Transition
	for rows.Next() {
		t := blo.Transition{Action: "raised"}
		rows.Scan(&t.Seq, &t.AlertID)
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s simSource) Alert(ctx context.Context, id string) (contract.Alert, error) {
	var body string
	var a contract.Alert
	if err := s.db.QueryRowContext(ctx, `SELECT body FROM sim_alerts WHERE id = ?`, id).Scan(&body); err != nil {
		return a, blo.ErrNoAlert
	}
	return a, json.Unmarshal([]byte(body), &a)
}

// commitAlert stores an alert, then hands it to the engine as the hub's
// after-commit event does.
func commitAlert(db *sql.DB, e *blo.Engine, a contract.Alert) error {
	body, _ := json.Marshal(a)
	res, err := db.Exec(`INSERT INTO sim_alerts(id, body) VALUES (?, ?)`, a.ID, string(body))
	if err != nil {
		return err
	}
	seq, _ := res.LastInsertId()
	e.Committed([]contract.Alert{a}, []blo.Transition{{Seq: seq, AlertID: a.ID, Action: "raised", Time: a.Raised}})
	return nil
}

func (simSource) Readings(context.Context, []contract.ReadingRef) ([][]byte, error) { return nil, nil }
func (simSource) Counts(context.Context, time.Time, time.Time) (map[string]int64, error) {
	return nil, nil
}

func openSim(dir string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "hub.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	_, err = db.Exec(`CREATE TABLE IF NOT EXISTS sim_alerts (id TEXT PRIMARY KEY, body TEXT NOT NULL)`)
	return db, err
}

type child struct {
	cmd *exec.Cmd
}

func spawn(t *testing.T, kind string, conf any, log string) *child {
	t.Helper()
	js, _ := json.Marshal(conf)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "KORDON_CHILD="+kind, "KORDON_CHILD_CONF="+string(js))
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd}
	t.Cleanup(func() { c.kill() })
	return c
}

// start runs a binary as a child with its output in log.
func start(t *testing.T, log, bin string, args ...string) *child {
	t.Helper()
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd}
	t.Cleanup(func() { c.kill() })
	return c
}

// buildHubd builds the real hubd for the test.
func buildHubd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hubd")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/hubd")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build hubd: %v\n%s", err, out)
	}
	return bin
}

// box is a crossing's box as the hub sees it: an MQTT client sending a
// thermometer reading every few milliseconds (each one raises an alert by
// the test's rule), riding out the hub's restarts.
type box struct {
	c    paho.Client
	stop chan struct{}
	done chan struct{}
}

func startBox(t *testing.T, addr, user, pw string, every time.Duration) *box {
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("kordon-kordai-" + user).SetUsername(user).SetPassword(pw).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).
		SetMaxReconnectInterval(250 * time.Millisecond).SetCleanSession(false)
	b := &box{c: paho.NewClient(opts), stop: make(chan struct{}), done: make(chan struct{})}
	b.c.Connect()
	inc := "5e1f0c2d9a7b3c48"
	go func() {
		defer close(b.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for seq := uint64(1); ; seq++ {
			select {
			case <-b.stop:
				return
			case <-tick.C:
			}
			env := fmt.Sprintf(`{"schema":"kordon.reading/2","crossing":"kordai","box":%q,"device":"thermo1","kind":"temperature","driver":"thermometer","incarnation":%q,"seq":%d,"origin":%q,"clock":"synced","quality":{"status":"ok"},"payload":{"sensor":"lane-1","model":"calex-pyrousb","celsius":36.6,"measured_celsius":36.6,"housing_celsius":25,"emissivity":0.98,"fever":false,"fever_threshold":37.5,"events":[],"cause":"heartbeat"}}`,
				user, inc, seq, time.Now().UTC().Format(time.RFC3339Nano))
			b.c.Publish(contract.Readings("kordai", user, "thermo1"), 1, false, env)
		}
	}()
	return b
}

func (b *box) close() {
	close(b.stop)
	<-b.done
	b.c.Disconnect(100)
}

// kill is kill -9.
func (c *child) kill() {
	if c.cmd.Process != nil {
		c.cmd.Process.Signal(syscall.SIGKILL)
		c.cmd.Wait()
	}
}

// Nothing lost, nothing doubled: a hub feeding the centre at a steady
// rate through a partition of the uplink, a kill -9 of the hub during the
// partition, and a kill -9 of one of the centre's three nodes.
func TestUplinkSurvivesPartitionAndKills(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test")
	}
	if os.Getenv("KORDON_BLO_FAULTS") == "" {
		// It passes reliably, but takes about two minutes under the race
		// detector on the shared test machine (hubd built, a 30 s
		// partition, the backlog drained), twice what make test allows one
		// test; make blo-faults runs it three times.
		t.Skip("about two minutes: run with KORDON_BLO_FAULTS=1 (make blo-faults)")
	}
	partition := 30 * time.Second
	if v := os.Getenv("KORDON_PARTITION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		partition = d
	}
	dir := t.TempDir()
	xing := blotest.NewSite(t, dir, "kordai")
	cs := blotest.NewSite(t, dir, "centre")
	var cfgs []*blo.CentreNodeConfig
	var routes []string
	for i := range 3 {
		cfg := &blo.CentreNodeConfig{Name: fmt.Sprintf("c%d", i+1), Listen: blotest.FreeAddr(t), LeafListen: blotest.FreeAddr(t),
			ClusterListen: blotest.FreeAddr(t), Cert: cs.CertFile, Key: cs.KeyFile, CA: cs.CAFile, StoreDir: filepath.Join(dir, fmt.Sprintf("c%d", i+1)),
			Crossings: []blo.Peer{{Site: "kordai", CA: xing.CAFile}}, ReaderUser: "centre", ReaderPassword: "pw"}
		routes = append(routes, "nats-route://"+cfg.ClusterListen)
		cfgs = append(cfgs, cfg)
	}
	var nodes []*child
	var proxies []*blotest.Proxy
	var urls, leafs []string
	for _, cfg := range cfgs {
		cfg.Routes = routes
		nodes = append(nodes, spawn(t, "centre-node", cfg, filepath.Join(dir, cfg.Name+".log")))
		p := blotest.NewProxy(t, cfg.LeafListen)
		proxies = append(proxies, p)
		urls = append(urls, "nats://"+cfg.Listen)
		leafs = append(leafs, "tls://"+p.Addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute+3*partition)
	defer cancel()
	clog, err := os.Create(filepath.Join(dir, "centre.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(clog.Name())
			t.Logf("kordon-centre's log:\n%s", b)
		}
	}()
	w := &world{sites: map[string]*blotest.Site{"kordai": xing, "centre": cs}}
	c, err := centre.New(ctx, centreConfig(w, urls, []string{"kordai"}, blotest.Postgres(t)), slog.New(slog.NewTextHandler(clog, nil)))
	if err != nil {
		t.Fatal(err)
	}
	cctx, stop := context.WithCancel(ctx)
	c.Run(cctx)
	defer func() { stop(); c.Wait(); c.Close() }()

	// The hub is the real hubd: a rule raises an alert for every reading
	// of the box, so alerts are raised at the box's rate.
	hubd := buildHubd(t)
	hubDir := filepath.Join(dir, "hub")
	os.MkdirAll(hubDir, 0o700)
	mqttAddr := blotest.FreeAddr(t)
	pw, _ := bcrypt.GenerateFromPassword([]byte("lane-pw"), bcrypt.MinCost)
	rules := filepath.Join(dir, "rules.yaml")
	blotest.WriteFile(t, rules, "rules:\n  - {id: sim, when: 'kind == \"temperature\"', severity: low, summary: Simulated}\n")
	hubConf := filepath.Join(dir, "hub.yaml")
	blotest.WriteFile(t, hubConf, fmt.Sprintf(`crossing: kordai
mqtt: %q
data_dir: %s
rules: %s
boxes:
  - {box: lane-01, password_hash: %q}
blo:
  cert: %s
  key: %s
  centre: {site: centre, ca: %s, urls: [%s]}
`, mqttAddr, hubDir, rules, pw, xing.CertFile, xing.KeyFile, cs.CAFile, strings.Join(leafs, ", ")))
	hubLog := filepath.Join(dir, "hub.log")
	hub := start(t, hubLog, hubd, "-config", hubConf)
	lane := startBox(t, mqttAddr, "lane-01", "lane-pw", 20*time.Millisecond) // 50 alerts a second: far beyond a real crossing
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(hubLog)
			t.Logf("hubd's log (last 6000 bytes):\n%s", tail(b, 6000))
		}
	}()

	pool := c.DB().Pool()
	atCentre := func() int {
		var n int
		pool.QueryRow(ctx, `SELECT count(*) FROM alerts`).Scan(&n)
		return n
	}
	// What the hub committed is what must reach the centre.
	generated := func() int {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(hubDir, "hub.db")+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		db.QueryRow(`SELECT count(*) FROM alerts`).Scan(&n)
		return n
	}
	waitFor(t, 90*time.Second, "the first alerts at the centre", func() bool { return atCentre() >= 200 })
	t.Logf("before the partition: %d at the centre", atCentre())

	for _, p := range proxies {
		p.Cut()
	}
	beforeCut := atCentre()
	time.Sleep(partition / 2) // the partition itself is what is tested: it lasts this long
	hub.kill()
	killedAt := generated()
	hub = start(t, hubLog, hubd, "-config", hubConf)
	time.Sleep(partition / 2)
	t.Logf("partition of %v: %d at the centre when cut, %d raised at the hub when hubd was killed -9 and restarted", partition, beforeCut, killedAt)
	for _, p := range proxies {
		p.Heal()
	}
	waitFor(t, 3*time.Minute, "the backlog at the centre", func() bool { return atCentre() > killedAt })
	nodes[1].kill()
	t.Logf("centre node c2 killed -9 with %d at the centre", atCentre())
	time.Sleep(5 * time.Second) // more alerts while one node is down
	lane.close()
	// Once the hub's count has held still for a second, no more are coming.
	var total int
	waitFor(t, 30*time.Second, "the generator to stop", func() bool {
		a := generated()
		time.Sleep(time.Second)
		total = generated()
		return a == total
	})
	deadline := time.Now().Add(3 * time.Minute)
	for atCentre() < total {
		if time.Now().After(deadline) {
			c.Refresh(ctx)
			diagnose(t, ctx, reader(t, w, urls, "kordai"), pool, hubDir)
			t.Fatalf("%d of %d at the centre after 3 minutes; feed %+v", atCentre(), total, c.Stats())
		}
		time.Sleep(100 * time.Millisecond)
	}
	var distinct, rows int
	pool.QueryRow(ctx, `SELECT count(DISTINCT id), count(*) FROM alerts`).Scan(&distinct, &rows)
	c.Refresh(ctx)
	st := c.Stats()[0]
	lost, doubled := total-distinct, rows-distinct
	t.Logf("raised at the hub (hubd) %d; at the centre %d (distinct %d); lost %d, doubled %d; redeliveries absorbed by message id %d",
		total, rows, distinct, lost, doubled, st.Again)
	if lost != 0 || doubled != 0 || rows != total {
		t.Fatalf("lost %d, doubled %d (generated %d, at the centre %d)", lost, doubled, total, rows)
	}
	hub.kill()
}

// diagnose says where the alerts missing at the centre are: in the hub's
// UPLINK, in the centre's FEED, behind the centre's consumer.
func diagnose(t *testing.T, ctx context.Context, nc *nats.Conn, pool *pgxpool.Pool, hubDir string) {
	defer nc.Close()
	js, _ := jetstream.New(nc)
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ids := func(js jetstream.JetStream, stream string) map[string][2]string {
		out := map[string][2]string{}
		s, err := js.Stream(dctx, stream)
		if err != nil {
			t.Logf("diagnosis: stream %s: %v", stream, err)
			return out
		}
		info, err := s.Info(dctx)
		if err != nil {
			t.Logf("diagnosis: stream %s: %v", stream, err)
			return out
		}
		b, _ := json.Marshal(info)
		t.Logf("diagnosis: %s info %s", stream, b)
		oc, err := s.OrderedConsumer(dctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{blo.UpSubject("kordai", blo.KindAlert)}})
		if err != nil {
			t.Logf("diagnosis: consumer on %s: %v", stream, err)
			return out
		}
		// read to the stream's last message, riding out a slow answer or two
		for last, misses := uint64(0), 0; last < info.State.LastSeq && misses < 5; {
			m, err := oc.Next(jetstream.FetchMaxWait(5 * time.Second))
			if err != nil {
				misses++
				continue
			}
			md, _ := m.Metadata()
			last = md.Sequence.Stream
			out[m.Headers().Get(jetstream.MsgIDHeader)] = [2]string{strconv.FormatUint(md.Sequence.Stream, 10), m.Headers().Get("Nats-Stream-Source")}
		}
		return out
	}
	feed := ids(js, blo.FeedStream)
	if s, err := js.Stream(dctx, blo.FeedStream); err == nil {
		if cons, err := s.Consumer(dctx, "pg"); err == nil {
			if ci, err := cons.Info(dctx); err == nil {
				b, _ := json.Marshal(ci)
				t.Logf("diagnosis: consumer pg %s", b)
			}
		}
	}
	hjs, _ := jetstream.NewWithDomain(nc, "kordai")
	up := ids(hjs, blo.UplinkStream)
	atCentre := map[string]bool{}
	rows, err := pool.Query(dctx, `SELECT id FROM alerts`)
	if err == nil {
		for rows.Next() {
			var id string
			rows.Scan(&id)
			atCentre["kordai:alert:"+id] = true
		}
		rows.Close()
	}
	var notInFeed, inFeedNotDB, notInDB []string
	for id, v := range up {
		if !atCentre[id] {
			notInDB = append(notInDB, id+"@uplink#"+v[0])
		}
		if _, ok := feed[id]; !ok {
			notInFeed = append(notInFeed, id+"@uplink#"+v[0])
		} else if !atCentre[id] {
			inFeedNotDB = append(inFeedNotDB, id+"@feed#"+feed[id][0])
		}
	}
	sort.Strings(notInFeed)
	sort.Strings(inFeedNotDB)
	sort.Strings(notInDB)
	t.Logf("diagnosis: uplink %d alerts, feed %d (as read), database %d; in the uplink not the database %d %v; in the uplink not the feed %d %v; in the feed not the database %d %v",
		len(up), len(feed), len(atCentre), len(notInDB), head(notInDB), len(notInFeed), head(notInFeed), len(inFeedNotDB), head(inFeedNotDB))
	// the feed's messages around the gap, by feed sequence, with their source header
	bySeq := map[int]string{}
	for id, v := range feed {
		n, _ := strconv.Atoi(v[0])
		bySeq[n] = id + " " + v[1]
	}
	var seqs []int
	for n := range bySeq {
		seqs = append(seqs, n)
	}
	sort.Ints(seqs)
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Logf("diagnosis: feed gap %d..%d: %s | %s", seqs[i-1], seqs[i], bySeq[seqs[i-1]], bySeq[seqs[i]])
		}
	}
	if len(seqs) > 0 {
		t.Logf("diagnosis: feed last %d: %s", seqs[len(seqs)-1], bySeq[seqs[len(seqs)-1]])
	}
	for _, name := range []string{"c1", "c2", "c3"} {
		b, _ := os.ReadFile(filepath.Join(filepath.Dir(hubDir), name+".log"))
		t.Logf("%s's log (last 6000 bytes):\n%s", name, tail(b, 6000))
	}
}

func head(l []string) []string {
	if len(l) > 20 {
		return l[:20]
	}
	return l
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
