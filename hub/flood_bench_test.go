package hub

// BenchmarkLegitLatencyUnderFlood measures what each flood of the hostile
// suite costs a legitimate box: the box publishes readings at its nominal
// pace against a hub with the production defaults, first alone, then while
// the flood runs, in the same run, and the publish-to-PUBACK latencies of
// both are printed side by side with their ratio (make bench-hostile). It
// is a benchmark, not a test: nothing here asserts a time. With
// KORDON_COMMIT_TIMINGS set it also prints where the group commit's time
// went during the flood, the Go runtime's pauses, the bytes the hub wrote,
// and a disk probe's sync latency alone and during the flood (the peer that
// tells a slow disk from a slow hub).

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/bcrypt"

	"github.com/kordon/kordon/internal/contract"
)

// floodWindow is how long each phase (alone, during the flood) lasts;
// KORDON_FLOOD_WINDOW overrides it (a Go duration).
func floodWindow(b *testing.B) time.Duration {
	w := 6 * time.Second
	if s := os.Getenv("KORDON_FLOOD_WINDOW"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("KORDON_FLOOD_WINDOW: %v", err)
		}
		w = d
	}
	return w
}

// legitPace is a box's nominal publishing pace in the benchmark: far above
// a booth's real rate, so each window holds enough samples for a p99.
const legitPace = 50 * time.Millisecond

// floods are the attacks, by name; each runs against the broker at addr
// until stop is closed, then returns once everything it started has ended.
type floodCase struct {
	name string
	run  func(tb testing.TB, addr string, stop <-chan struct{})
	hub  func(*Config)    // the hub's configuration, when not the defaults
	fair func(*fairShare) // the fair share's, when not the defaults
}

// noFairShare turns fair.go off, as the peer of the readings floods.
func noFairShare(c *Config) { c.Limits.FairShare = 1 << 20 }

// withoutPauses holds a flood to its share in flight but without the
// pause between its rounds: the fair share as it was, the peer of the
// pauses.
func withoutPauses(f *fairShare) { f.pause = 0 }

func floods() []floodCase {
	return []floodCase{
		{"wrong-passwords-1-address", func(_ testing.TB, a string, stop <-chan struct{}) { wrongPasswords(a, 1, stop) }, nil, nil},
		{"wrong-passwords-64-addresses", func(_ testing.TB, a string, stop <-chan struct{}) { wrongPasswords(a, 64, stop) }, nil, nil},
		{"idle-and-slowloris", func(_ testing.TB, a string, stop <-chan struct{}) { idleAndSlowloris(a, stop) }, nil, nil},
		{"readings-1100-per-s", func(tb testing.TB, a string, stop <-chan struct{}) { readingFlood(tb, a, time.Second/1100, stop) }, nil, nil},
		{"readings-1100-per-s-without-pauses", func(tb testing.TB, a string, stop <-chan struct{}) { readingFlood(tb, a, time.Second/1100, stop) }, nil, withoutPauses},
		{"readings-1100-per-s-without-fair-share", func(tb testing.TB, a string, stop <-chan struct{}) { readingFlood(tb, a, time.Second/1100, stop) }, noFairShare, nil},
		{"readings-unpaced", func(tb testing.TB, a string, stop <-chan struct{}) { readingFlood(tb, a, 0, stop) }, nil, nil},
		{"readings-unpaced-without-pauses", func(tb testing.TB, a string, stop <-chan struct{}) { readingFlood(tb, a, 0, stop) }, nil, withoutPauses},
		{"readings-unpaced-commit-wait-2ms", func(tb testing.TB, a string, stop <-chan struct{}) { readingFlood(tb, a, 0, stop) }, func(c *Config) { c.Ingest.CommitWait = Duration(2 * time.Millisecond) }, nil},
		{"readings-unpaced-fair-share-32", func(tb testing.TB, a string, stop <-chan struct{}) { readingFlood(tb, a, 0, stop) }, func(c *Config) { c.Limits.FairShare = 32 }, nil},
		{"readings-unpaced-without-fair-share", func(tb testing.TB, a string, stop <-chan struct{}) { readingFlood(tb, a, 0, stop) }, noFairShare, nil},
		{"retained-junk", retainedJunk, nil, nil},
		{"observer-sessions", func(_ testing.TB, a string, stop <-chan struct{}) { observerSessions(a, stop) }, nil, nil},
	}
}

// The attacker runs in a process of its own (this test binary again, in
// TestFloodChild), limited to one core: in one process its goroutines
// would share the hub's Go scheduler, which a remote attacker's never do.
const (
	floodChildEnv = "KORDON_FLOOD_CHILD" // the flood's name
	floodAddrEnv  = "KORDON_FLOOD_ADDR"  // the broker's address
)

// TestFloodChild is the attacker process of BenchmarkLegitLatencyUnderFlood;
// without its environment it does nothing. It floods until its standard
// input closes (the benchmark's end), at most five minutes.
func TestFloodChild(t *testing.T) {
	name := os.Getenv(floodChildEnv)
	if name == "" {
		t.Skip("the attacker process of BenchmarkLegitLatencyUnderFlood")
	}
	all := floods()
	i := slices.IndexFunc(all, func(f floodCase) bool { return f.name == name })
	if i < 0 {
		t.Fatalf("no flood %q", name)
	}
	stop := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	time.AfterFunc(5*time.Minute, func() { os.Stdin.Close() })
	all[i].run(t, os.Getenv(floodAddrEnv), stop)
}

func BenchmarkLegitLatencyUnderFlood(b *testing.B) {
	window := floodWindow(b)
	for _, f := range floods() {
		b.Run(f.name, func(b *testing.B) {
			for range b.N {
				measureFlood(b, f, window)
			}
		})
	}
}

func measureFlood(b *testing.B, f floodCase, window time.Duration) {
	name := f.name
	h := newHostileHub(b, func(c *Config) {
		// bcrypt at its production cost for the identity the guesses aim at.
		pw, _ := bcrypt.GenerateFromPassword([]byte("pw1"), bcrypt.DefaultCost)
		c.Boxes[0].PasswordHash = string(pw)
		if f.hub != nil {
			f.hub(c)
		}
	})
	defer h.Close()
	if f.fair != nil {
		h.auth.fair.mu.Lock()
		f.fair(h.auth.fair)
		h.auth.fair.mu.Unlock()
	}
	legit := &prober{c: boxClient(b, h, "booth3"), box: "booth3", body: specimen(b, "booth3", "reader1", 1)}
	loadBefore := loadAvg()
	probe := startDiskProbe(h.cfg.DataDir)
	alone := legit.measure(window)
	probeAlone := probe.end()

	child := exec.Command(os.Args[0], "-test.run=^TestFloodChild$", "-test.count=1")
	child.Env = append(os.Environ(), floodChildEnv+"="+name, floodAddrEnv+"="+h.MQTTAddr(), "GOMAXPROCS=1")
	var out bytes.Buffer
	child.Stdout, child.Stderr = &out, &out
	stdin, err := child.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	storedBefore := h.Counters().Readings
	if err := child.Start(); err != nil {
		b.Fatal(err)
	}
	ct := watchCommits(h)
	probe = startDiskProbe(h.cfg.DataDir)
	during := legit.measure(window)
	probeDuring := probe.end()
	commits := ct.stop(h)
	floodStored := h.Counters().Readings - storedBefore - int64(len(during.lat))
	stdin.Close()
	if err := child.Wait(); err != nil {
		b.Fatalf("%s: attacker process: %v\n%s", name, err, out.Bytes())
	}
	loadAfter := loadAvg()
	if len(alone.lat) == 0 || len(during.lat) == 0 {
		b.Fatalf("%s: the legitimate box published nothing (alone %d, during %d, failed %d+%d)", name, len(alone.lat), len(during.lat), alone.failed, during.failed)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	ratio := ms(during.q(0.99)) / max(ms(alone.q(0.99)), 0.001)
	b.ReportMetric(ms(alone.q(0.5)), "alone-p50-ms")
	b.ReportMetric(ms(alone.q(0.99)), "alone-p99-ms")
	b.ReportMetric(ms(during.q(0.5)), "flood-p50-ms")
	b.ReportMetric(ms(during.q(0.99)), "flood-p99-ms")
	b.ReportMetric(ratio, "p99-ratio")
	b.ReportMetric(float64(floodStored)/window.Seconds(), "flood-stored/s")
	b.Logf("%-28s alone p50 %6.2f ms p99 %6.2f ms (%d) | flood p50 %6.2f ms p99 %6.2f ms max %6.2f ms (%d, failed %d) | p99 ratio %.2f | flooder's readings stored %.0f/s | %s | load %s -> %s",
		name, ms(alone.q(0.5)), ms(alone.q(0.99)), len(alone.lat), ms(during.q(0.5)), ms(during.q(0.99)), ms(during.q(1)), len(during.lat), during.failed,
		ratio, float64(floodStored)/window.Seconds(), floodCounts(h), loadBefore, loadAfter)
	if os.Getenv("KORDON_COMMIT_TIMINGS") != "" {
		b.Logf("%s alone: %s; during the flood: %s\n    commits during the flood: %s", name, probeAlone, probeDuring, commits)
	}
}

// floodCounts is what the hub refused or slowed during the flood.
func floodCounts(h *Hub) string {
	var parts []string
	for _, r := range []string{"bcrypt_checks", "backoff", "auth_busy", "credentials", "sessions", "rate", "byte_rate", "fair_share", "retain", "acl", "connect_timeout", "pending", "accept_rate"} {
		if n := h.auth.counts.get(r); n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", r, n))
		}
	}
	return "hub: stored=" + fmt.Sprint(h.Counters().Readings) + " " + strings.Join(parts, " ")
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// prober is the legitimate box: one QoS 1 reading every legitPace, each
// timed from PUBLISH to PUBACK.
type prober struct {
	c    paho.Client
	box  string
	body []byte
	seq  uint64
}

type latencies struct {
	lat    []time.Duration // sorted
	failed int
}

func (l latencies) q(f float64) time.Duration {
	if len(l.lat) == 0 {
		return 0
	}
	return l.lat[min(len(l.lat)-1, int(f*float64(len(l.lat))))]
}

func (p *prober) measure(window time.Duration) latencies {
	var out latencies
	topic := contract.Readings(testCrossing, p.box, "reader1")
	tick := time.NewTicker(legitPace)
	defer tick.Stop()
	end := time.After(window)
	for {
		select {
		case <-end:
			slices.Sort(out.lat)
			return out
		case <-tick.C:
		}
		p.seq++
		body := withSeq(p.body, p.seq)
		t0 := time.Now()
		tok := p.c.Publish(topic, 1, false, body)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			out.failed++
			continue
		}
		out.lat = append(out.lat, time.Since(t0))
	}
}

// withSeq is a reading of seq 1 renumbered (cheaper than rendering each).
func withSeq(one []byte, seq uint64) []byte {
	first := []byte(`"seq":1,`)
	if !bytes.Contains(one, first) {
		panic("specimen reading without seq 1")
	}
	return bytes.Replace(one, first, []byte(fmt.Sprintf(`"seq":%d,`, seq)), 1)
}

// floodClient is an MQTT box client for the attacker process.
func floodClient(tb testing.TB, addr, box string) paho.Client {
	c, err := connect(tb, clientOpts{url: "tcp://" + addr, id: boxID(box), user: box, pw: "pw" + box[len(box)-1:]})
	if err != nil {
		tb.Fatalf("%s refused: %v", box, err)
	}
	return c
}

// loopback returns a dialer from 127.0.0.n: an attacker with many
// addresses gets past the per-address back-off and pending bounds.
func loopback(n int) *net.Dialer {
	return &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, byte(n/250), byte(2+n%250))}}
}

func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// wrongPasswords: 50 clients CONNECT with wrong passwords for booth1, one
// after another, from addrs source addresses.
func wrongPasswords(addr string, addrs int, stop <-chan struct{}) {
	var wg sync.WaitGroup
	var n atomic.Int64
	for w := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stopped(stop); i++ {
				conn, err := loopback((w+i*50)%addrs).Dial("tcp", addr)
				if err != nil {
					continue
				}
				go func() { <-stop; conn.Close() }()
				rawConnect(conn, fmt.Sprintf("flood-%d-%d", w, i), "booth1", "wrong")
				conn.Close()
				n.Add(1)
			}
		}()
	}
	wg.Wait()
}

// idleAndSlowloris keeps 500 idle TCP connections and 200 CONNECTs sent
// one byte at a time open against the hub, from 64 addresses, opening a new
// one whenever the hub drops one.
func idleAndSlowloris(addr string, stop <-chan struct{}) {
	var wg sync.WaitGroup
	for i := range 700 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopped(stop) {
				conn, err := loopback(i%64).Dial("tcp", addr)
				if err != nil {
					select {
					case <-stop:
					case <-time.After(100 * time.Millisecond):
					}
					continue
				}
				closed := make(chan struct{})
				go func() { io.Copy(io.Discard, conn); close(closed) }()
				if i >= 500 { // slowloris: a CONNECT's first byte, then one more every 100 ms
					conn.Write([]byte{0x10})
				}
			trickle:
				for {
					select {
					case <-stop:
						break trickle
					case <-closed:
						break trickle
					case <-time.After(100 * time.Millisecond):
						if i >= 500 {
							conn.Write([]byte{0x7f})
						}
					}
				}
				conn.Close()
				<-closed
			}
		}()
	}
	wg.Wait()
}

// readingFlood: booth2 publishes valid readings at QoS 1 one every pace
// (0: as fast as its window of 256 unacknowledged readings allows, as
// edged drains a backlog).
func readingFlood(b testing.TB, addr string, pace time.Duration, stop <-chan struct{}) {
	c := floodClient(b, addr, "booth2")
	defer c.Disconnect(0)
	topic := contract.Readings(testCrossing, "booth2", "reader1")
	one := specimen(b, "booth2", "reader1", 1)
	window := make(chan paho.Token, 256) // unacknowledged, oldest first
	var tick *time.Ticker
	if pace > 0 {
		tick = time.NewTicker(pace)
		defer tick.Stop()
	}
	for seq := 1; !stopped(stop); seq++ {
		if tick != nil {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
		if len(window) == cap(window) {
			(<-window).WaitTimeout(10 * time.Second)
		}
		body := withSeq(one, uint64(seq))
		window <- c.Publish(topic, 1, false, body)
	}
}

// retainedJunk: booth2 sends retained junk, 200 KiB messages under its own
// root and availability of devices it does not have, as fast as it can.
func retainedJunk(b testing.TB, addr string, stop <-chan struct{}) {
	c := floodClient(b, addr, "booth2")
	defer c.Disconnect(0)
	root := contract.BoxRoot(testCrossing, "booth2")
	junk := bytes.Repeat([]byte("j"), 200<<10)
	for i := 0; !stopped(stop); i++ {
		// QoS 0: at QoS 1 the first refusal ends an MQTT 3.1.1 session.
		c.Publish(fmt.Sprintf("%sjunk/%d", root, i%1000), 0, true, junk).Wait()
		a := fmt.Sprintf(`{"schema":%q,"box":"booth2","device":"d%d","state":"up","time":%q}`, contract.AvailabilityV1, i, time.Now().UTC().Format(time.RFC3339))
		c.Publish(contract.Availability(testCrossing, "booth2", fmt.Sprintf("d%d", i)), 0, true, []byte(a)).Wait()
	}
}

// observerSessions: the observer credential opens sessions as fast as it
// can, holding every one admitted.
func observerSessions(addr string, stop <-chan struct{}) {
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var held []net.Conn
			defer func() {
				for _, c := range held {
					c.Close()
				}
			}()
			for i := 0; !stopped(stop); i++ {
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					continue
				}
				if rawConnect(conn, fmt.Sprintf("watch-%d-%d", w, i), "watch", "watchpw") == 0 {
					held = append(held, conn)
				} else {
					conn.Close()
				}
			}
		}()
	}
	wg.Wait()
}
