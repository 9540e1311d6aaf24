// Command hubbench measures hubd's ingest beside Debian's mosquitto in one
// run (README.md, "Hub benchmark"): N simulated boxes, each logged in as
// itself, publish schema-valid readings at QoS 1 with edged's window; hubd
// stores them with its rules on, mosquitto relays them to one subscriber.
// The two alternate, round by round, and the ratio is printed per round. It
// is a benchmark, not a test: it prints figures and asserts nothing.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/bcrypt"

	"github.com/kordon/kordon/drivers/passport/mrz"
	"github.com/kordon/kordon/hub"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/logging"
	"github.com/kordon/kordon/internal/reading"
)

const crossing = "bench"

func main() {
	boxesFlag := flag.String("boxes", "10,50,200", "box counts, one round pair each")
	sets := flag.String("sets", "routine,mixed", "reading sets: routine (thermometer samples), mixed (documents, alarms, samples)")
	dur := flag.Duration("duration", 10*time.Second, "length of one round")
	window := flag.Int("window", 256, "readings a box sends before waiting for a PUBACK (edged's window)")
	drain := flag.Int("drain", 100000, "backlog one box drains after the rounds (0: skip)")
	nominal := flag.Float64("nominal", 1, "readings/s per box for the latency round at the largest box count (0: skip)")
	mosq := flag.String("mosquitto", "mosquitto", "mosquitto binary")
	stored := flag.Int("stored", 0, "also measure ingest with this many readings already stored, beside an empty database (e.g. 10000000)")
	storedDir := flag.String("stored-dir", "", "where the filled database is kept between runs (default: a directory under /var/tmp named for -stored)")
	commitBatch := flag.Int("commit-batch", 0, "hubd's ingest.commit_batch (0: its default)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of each hub round to PREFIX-<set>-<boxes>.prof")
	rateFlag := flag.Float64("rate", 0, "hubd's limits.rate, messages/s per identity (0: its default, which bounds one box's drain)")
	commitTimings := flag.Bool("commit-timings", false, "print the group commit's timings after every hub round (the hub in this process only)")
	pairs := flag.Int("pairs", 1, "round pairs (hubd, mosquitto) per set and box count, alternating which goes first; with more than one, a line of medians follows")
	hubdBin := flag.String("hubd", "", "run this hubd binary as its own process (profiles through its -pprof); default: the hub inside this process, beside the simulated boxes")
	flag.Parse()
	log.SetFlags(0)
	if *pairs < 1 {
		log.Fatalf("-pairs: %d is not a number of round pairs", *pairs)
	}
	ingest := hubSettings{ingest: hub.IngestConfig{CommitBatch: *commitBatch}, guard: hub.Guard{Rate: *rateFlag}, inflight: uint16(*window), bin: *hubdBin, commitTimings: *commitTimings}

	var counts []int
	for _, s := range strings.Split(*boxesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			log.Fatalf("-boxes: %q is not a box count", s)
		}
		counts = append(counts, n)
	}
	maxBoxes := slices.Max(append(counts, 1))
	tmp, err := os.MkdirTemp("", "hubbench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	creds := newCreds(maxBoxes)
	mb, err := startMosquitto(*mosq, tmp, creds)
	if err != nil {
		log.Fatalf("mosquitto: %v", err)
	}
	defer mb.stop()

	prof := func(set string, n int) string {
		if *cpuprofile == "" {
			return ""
		}
		return fmt.Sprintf("%s-%s-%d.prof", *cpuprofile, strings.ReplaceAll(set, ":", ""), n)
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("hubbench: %d CPUs, GOMAXPROCS %d, load %s", runtime.NumCPU(), runtime.GOMAXPROCS(0), load)
	where := "in this process, beside the simulated boxes"
	if *hubdBin != "" {
		where = "as its own process (" + *hubdBin + ")"
	}
	fmt.Printf("round: %s, window %d, QoS 1; hubd %s with default rules, each PUBACK after its commit's fsync; mosquitto %s relaying to one subscriber\n", *dur, *window, where, mb.version)
	fmt.Printf("(hubd's round ends with its last PUBACK, each after the commit; mosquitto's when its subscriber has received what it acknowledged)\n\n")
	fmt.Printf("(µs/r: CPU time per reading from the boxes' first reading to the round's end: hubd's, mosquitto's, and this process's, the simulated boxes in the hub round, the boxes and the relay's subscriber in mosquitto's; all share this machine)\n\n")
	fmt.Printf("%-8s %5s %14s %14s %7s %10s %10s %10s %10s %12s %10s %10s %11s %15s\n", "set", "boxes", "hubd r/s", "mosquitto r/s", "ratio", "hub p50", "mosq p50", "hub p99", "mosq p99", "hub B/read", "hub µs/r", "mosq µs/r", "boxes µs/r", "boxes+sub µs/r")
	for _, set := range strings.Split(*sets, ",") {
		if set == "" {
			continue
		}
		if set != "routine" && set != "mixed" {
			log.Fatalf("-sets: %q is not routine or mixed", set)
		}
		for _, n := range counts {
			var runs []pair
			for i := range *pairs {
				var p pair
				// Every other pair starts with mosquitto: neither broker
				// always meets the machine as the other left it. Only the
				// first pair's hub round is profiled (one file per set and
				// box count).
				if i%2 == 0 {
					p.hub = runHub(ingest, tmp, creds[:n], set, *dur, *window, 0, prof(set, n))
					p.relay = runRelay(mb, creds[:n], set, *dur, *window, 0)
				} else {
					p.relay = runRelay(mb, creds[:n], set, *dur, *window, 0)
					p.hub = runHub(ingest, tmp, creds[:n], set, *dur, *window, 0, "")
				}
				hr, mr := p.hub, p.relay
				fmt.Printf("%-8s %5d %14.0f %14.0f %7.2f %10s %10s %10s %10s %12.0f %10s %10.1f %11s %15.1f\n", set, n, hr.rate(), mr.rate(), p.ratio(),
					hr.p50().Round(10*time.Microsecond), mr.p50().Round(10*time.Microsecond),
					hr.p99().Round(10*time.Microsecond), mr.p99().Round(10*time.Microsecond), hr.bytesPer, cpuPer(hr), mr.cpuPer(), genPer(hr), mr.genPer())
				if mr.received < mr.acked {
					fmt.Printf("         (mosquitto's subscriber received %d of %d acknowledged)\n", mr.received, mr.acked)
				}
				runs = append(runs, p)
			}
			if len(runs) > 1 {
				fmt.Println(summarize(set, n, runs))
			}
		}
	}
	if *nominal > 0 {
		fmt.Printf("\nnominal load: %d boxes at %.1f reading/s each, mixed readings; PUBACK latency\n", maxBoxes, *nominal)
		hr := runHub(ingest, tmp, creds[:maxBoxes], "mixed", *dur, *window, *nominal, prof("nominal", maxBoxes))
		mr := runRelay(mb, creds[:maxBoxes], "mixed", *dur, *window, *nominal)
		lat, err := diskSyncs(tmp, float64(maxBoxes)**nominal, *dur)
		if err != nil {
			log.Fatalf("disk syncs: %v", err)
		}
		disk := result{lat: lat, acked: int64(len(lat))}
		us := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
		fmt.Printf("  hubd       p50 %8s  p99 %8s  max %8s  (%d readings)\n", us(hr.p50()), us(hr.p99()), us(hr.pct(1)), hr.acked)
		fmt.Printf("  mosquitto  p50 %8s  p99 %8s  max %8s  (%d readings)\n", us(mr.p50()), us(mr.p99()), us(mr.pct(1)), mr.acked)
		fmt.Printf("  the disk   p50 %8s  p99 %8s  max %8s  (%d readings arriving as the boxes', each synced by one append of %d KiB + fsync that began after it; in turn after the rounds)\n", us(disk.p50()), us(disk.p99()), us(disk.pct(1)), disk.acked, syncPages*4)
		fmt.Printf("  hubd adds  p99 %8s  to mosquitto's, %s to the disk's own\n", us(hr.p99()-mr.p99()), us(hr.p99()-disk.p99()))
	}
	if *drain > 0 {
		fmt.Printf("\ndrain: one box sends a backlog of %d routine readings as fast as its window allows\n", *drain)
		hr := runHub(ingest, tmp, creds[:1], "drain:"+strconv.Itoa(*drain), 0, *window, 0, prof("drain", 1))
		mr := runRelay(mb, creds[:1], "drain:"+strconv.Itoa(*drain), 0, *window, 0)
		fmt.Printf("  hubd %.0f readings/s, mosquitto %.0f readings/s, ratio %.2f; hub stores %.0f bytes per reading\n",
			hr.rate(), mr.rate(), hr.rate()/mr.rate(), hr.bytesPer)
	}
	if *stored > 0 {
		dir := *storedDir
		if dir == "" {
			dir = fmt.Sprintf("/var/tmp/hubbench-stored-%d", *stored)
		}
		n := maxBoxes
		fmt.Printf("\ningest with %d readings stored (%s) beside an empty database: %d boxes, routine readings, alternating\n", *stored, dir, n)
		if err := fill(dir, *stored, creds[:n]); err != nil {
			log.Fatal(err)
		}
		var full, empty []float64
		for i := 0; i < 3; i++ {
			e := runHub(ingest, tmp, creds[:n], "routine", *dur, *window, 0, "")
			f := runHubIn(ingest, dir, creds[:n], "routine", *dur, *window, 0, "")
			empty, full = append(empty, e.rate()), append(full, f.rate())
			fmt.Printf("  pair %d: empty %.0f r/s, %d stored %.0f r/s, ratio %.2f\n", i+1, e.rate(), *stored, f.rate(), f.rate()/e.rate())
		}
		fmt.Printf("  mean: empty %.0f r/s, stored %.0f r/s, ratio %.2f\n", mean(empty), mean(full), mean(full)/mean(empty))
		queries(dir)
	}
	if *cpuprofile != "" {
		if *hubdBin != "" {
			fmt.Printf("\nCPU profiles of hubd in the hub rounds: %s-*.prof (go tool pprof -top %s PROFILE)\n", *cpuprofile, *hubdBin)
		} else {
			fmt.Printf("\nCPU profiles of the hub rounds (hub and simulated boxes share the process): %s-*.prof\n", *cpuprofile)
		}
	}
}

// hubSettings is the part of hubd's configuration a run sets.
type hubSettings struct {
	ingest   hub.IngestConfig
	guard    hub.Guard
	inflight uint16 // limits.max_inflight: the boxes' window
	bin      string // a hubd binary to run as its own process, or "" for the hub in this process
	// commitTimings prints the group commit's timings after every round,
	// not only the nominal one's.
	commitTimings bool
}

// cred is one box's identity.
type cred struct{ box, password, hash string }

func newCreds(n int) []cred {
	out := make([]cred, n)
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pw := randHex(8)
			h, _ := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
			out[i] = cred{box: fmt.Sprintf("box-%03d", i+1), password: pw, hash: string(h)}
		}()
	}
	wg.Wait()
	return out
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// result is one round's figures.
type result struct {
	acked, received int64 // received: by a relay's subscriber
	relay           bool  // a relay's rate is what its subscriber received
	elapsed         time.Duration
	lat             []time.Duration
	bytesPer        float64
	cpu             time.Duration // the broker process's CPU time (user and system) from the first reading to the round's end; 0 when not known
	gen             time.Duration // this process's: the simulated boxes (and a relay's subscriber); 0 when the hub runs in it
}

// cpuPer is the broker's CPU time per acknowledged reading, in µs: the
// figure a loaded machine disturbs least (the rate falls when the broker
// waits for a core; the CPU it spends per reading hardly moves).
func (r result) cpuPer() float64 {
	if r.acked == 0 {
		return 0
	}
	return float64(r.cpu.Microseconds()) / float64(r.acked)
}

// genPer is the simulated boxes' (and a relay's subscriber's) CPU time
// per acknowledged reading, in µs.
func (r result) genPer() float64 {
	if r.acked == 0 {
		return 0
	}
	return float64(r.gen.Microseconds()) / float64(r.acked)
}

// genPer prints the simulated boxes' CPU per reading of a hub round, known
// only when hubd is a process of its own.
func genPer(r result) string {
	if r.gen == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", r.genPer())
}

// processCPU is a process's user and system CPU time so far, from
// /proc/PID/stat (in clock ticks of 10 ms: Linux's USER_HZ is 100).
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: fields follow its ")".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func (r result) rate() float64 {
	if r.relay {
		return float64(min(r.acked, r.received)) / r.elapsed.Seconds()
	}
	return float64(r.acked) / r.elapsed.Seconds()
}
func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	slices.Sort(r.lat)
	return r.lat[int(float64(len(r.lat)-1)*p)]
}
func (r result) p50() time.Duration { return r.pct(0.50) }
func (r result) p99() time.Duration { return r.pct(0.99) }

func runHub(ingest hubSettings, tmp string, creds []cred, set string, dur time.Duration, window int, perBox float64, profile string) result {
	dir, _ := os.MkdirTemp(tmp, "hub-")
	defer os.RemoveAll(dir)
	return runHubIn(ingest, dir, creds, set, dur, window, perBox, profile)
}

// cpuPer prints the hub's CPU per reading, known only when hubd is a
// process of its own.
func cpuPer(r result) string {
	if r.cpu == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", r.cpuPer())
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// runHubIn runs a hub round on the database in dir.
func runHubIn(ingest hubSettings, dir string, creds []cred, set string, dur time.Duration, window int, perBox float64, profile string) result {
	if ingest.bin != "" {
		return runHubProcess(ingest, dir, creds, set, dur, window, perBox, profile)
	}
	// Every simulated box connects from 127.0.0.1, where a station's boxes
	// each have an address of their own: the per-address bound on
	// connections in progress is the box count here.
	g := ingest.guard
	g.PendingConnectsPerAddr = len(creds) + 16
	cfg := &hub.Config{Crossing: crossing, MQTT: "127.0.0.1:0", DataDir: dir, Ingest: ingest.ingest,
		Limits: hub.LimitConfig{MaxClients: int64(len(creds) + 16), MaxInflight: ingest.inflight, Guard: g}}
	for _, c := range creds {
		cfg.Boxes = append(cfg.Boxes, hub.BoxCreds{Box: c.box, PasswordHash: c.hash})
	}
	h, err := hub.New(cfg, logging.Discard())
	if err != nil {
		log.Fatal(err)
	}
	if err := h.Start(); err != nil {
		log.Fatal(err)
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
	}
	var commits commitLog
	h.ObserveCommits(commits.add)
	res := drive("tcp://"+h.MQTTAddr(), creds, set, dur, window, perBox, nil, 0)
	h.ObserveCommits(nil)
	if profile != "" {
		pprof.StopCPUProfile()
	}
	if perBox > 0 || ingest.commitTimings {
		fmt.Printf("  hubd's group commit: %s\n", &commits)
	}
	stored := h.Counters().Readings
	h.Close()
	var size int64
	for _, f := range []string{"hub.db", "hub.db-wal"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err == nil {
			size += fi.Size()
		}
	}
	if stored > 0 {
		res.bytesPer = float64(size) / float64(stored)
	}
	return res
}

func runRelay(m *mosquitto, creds []cred, set string, dur time.Duration, window int, perBox float64) result {
	var got atomic.Int64
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(m.url).SetClientID("bench-sub-" + randHex(4)).
		SetUsername("sub").SetPassword(m.subPassword).SetCleanSession(true).SetAutoReconnect(false))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		log.Fatalf("mosquitto subscriber: %v", tok.Error())
	}
	sub.Subscribe(contract.Prefix+"/#", 1, func(paho.Client, paho.Message) { got.Add(1) }).Wait()
	res := drive(m.url, creds, set, dur, window, perBox, &got, m.cmd.Process.Pid)
	sub.Disconnect(100)
	return res
}

// drive connects every box, lets them publish for dur (or drain a backlog,
// for set "drain:N"), and counts PUBACKs. When broker is a process's id,
// its CPU time and this process's from the boxes' first reading to the
// round's end (not while they log in) go in the result.
func drive(url string, creds []cred, set string, dur time.Duration, window int, perBox float64, received *atomic.Int64, broker int) result {
	backlog := 0
	if n, ok := strings.CutPrefix(set, "drain:"); ok {
		backlog, _ = strconv.Atoi(n)
		set = "routine"
	}
	clients := make([]paho.Client, len(creds))
	var wg sync.WaitGroup
	for i, c := range creds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opts := paho.NewClientOptions().AddBroker(url).SetClientID("kordon-" + crossing + "-" + c.box).
				SetUsername(c.box).SetPassword(c.password).SetCleanSession(true).SetAutoReconnect(false).
				SetConnectTimeout(30 * time.Second).SetWriteTimeout(30 * time.Second)
			cl := paho.NewClient(opts)
			if tok := cl.Connect(); !tok.WaitTimeout(60*time.Second) || tok.Error() != nil {
				log.Fatalf("box %s: connect: %v", c.box, tok.Error())
			}
			clients[i] = cl
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range clients {
			c.Disconnect(100)
		}
	}()
	var acked atomic.Int64
	var stop atomic.Bool
	lats := make([][]time.Duration, len(creds))
	var brokerCPU, ownCPU time.Duration
	if broker != 0 {
		brokerCPU, ownCPU = processCPU(broker), processCPU(os.Getpid())
	}
	start := time.Now()
	for i, c := range creds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lats[i] = runBox(clients[i], newBox(c.box, set), window, perBox, backlog, &stop, &acked)
		}()
	}
	if backlog == 0 {
		time.Sleep(dur)
		stop.Store(true)
	}
	wg.Wait()
	elapsed := time.Since(start)
	// A relay's round counts until its subscriber has what it acknowledged
	// (or a minute more has passed): a broker that acknowledges readings
	// into its queue faster than it delivers them has not relayed them.
	relay := received != nil
	if relay {
		deadline := time.Now().Add(time.Minute)
		for received.Load() < acked.Load() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		elapsed = time.Since(start)
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	r := result{acked: acked.Load(), elapsed: elapsed, lat: all, relay: relay}
	if broker != 0 {
		r.cpu, r.gen = processCPU(broker)-brokerCPU, processCPU(os.Getpid())-ownCPU
	}
	if relay {
		r.received = received.Load()
	}
	return r
}

// runBox publishes with a window of unacknowledged readings, as edged does,
// and returns each reading's PUBACK latency.
func runBox(c paho.Client, b *box, window int, perBox float64, backlog int, stop *atomic.Bool, acked *atomic.Int64) []time.Duration {
	type sent struct {
		tok paho.Token
		at  time.Time
	}
	fifo := make(chan sent, window)
	var lat []time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		for s := range fifo {
			if !s.tok.WaitTimeout(60*time.Second) || s.tok.Error() != nil {
				log.Fatalf("%s: no PUBACK: %v", b.id, s.tok.Error())
			}
			lat = append(lat, time.Since(s.at))
			acked.Add(1)
		}
	}()
	var tick <-chan time.Time
	if perBox > 0 {
		// Boxes are not in step: each starts at its own point of the
		// period (200 boxes ticking together would measure a burst of 200
		// readings each second, not the nominal load).
		period := time.Duration(float64(time.Second) / perBox)
		time.Sleep(time.Duration(mrand.Int64N(int64(period))))
		t := time.NewTicker(period)
		defer t.Stop()
		tick = t.C
	}
	for n := 0; ; n++ {
		if backlog > 0 && n == backlog || backlog == 0 && stop.Load() {
			break
		}
		if tick != nil {
			<-tick
		}
		topic, msg := b.next()
		fifo <- sent{tok: c.Publish(topic, 1, false, msg), at: time.Now()}
	}
	close(fifo)
	<-done
	return lat
}

// box makes a box's readings: envelopes rendered once per device and
// kind, with the sequence number spliced in.
type box struct {
	id   string
	inc  string
	plan []tmpl // the set's mix, cycled
	seqs map[string]uint64
	n    int
}

type tmpl struct {
	device, topic      string
	before, mid, after []byte // around the seq and the origin
}

const seqMark = 987654321987

// originMark stands for the origin in a template: each reading is stamped
// when it is made, as edged stamps each read (alerts' ids begin with it).
var originMark = time.Date(2001, 2, 3, 4, 5, 6, 789000000, time.UTC)

func newBox(id, set string) *box {
	b := &box{id: id, inc: randHex(8), seqs: map[string]uint64{}}
	now := time.Now()
	mk := func(device, driver string, p reading.Payload, q reading.Quality) tmpl {
		r := reading.Reading{Crossing: crossing, Box: id, Device: device, Driver: driver, Incarnation: b.inc, Seq: seqMark,
			Origin: originMark, Clock: reading.ClockSynced, Quality: q, Payload: p}
		js, err := json.Marshal(r)
		if err != nil {
			log.Fatal(err)
		}
		before, after, ok := bytes.Cut(js, []byte(strconv.FormatUint(seqMark, 10)))
		if !ok {
			log.Fatal("sequence mark not found in the envelope")
		}
		mid, after, ok := bytes.Cut(after, []byte(originMark.Format(time.RFC3339Nano)))
		if !ok {
			log.Fatal("origin mark not found after the sequence in the envelope")
		}
		return tmpl{device: device, topic: contract.Readings(crossing, id, device), before: before, mid: mid, after: after}
	}
	ok := reading.Quality{Status: reading.OK}
	sample := func(c float64) reading.Payload {
		return reading.Received{KindName: "temperature", JSON: json.RawMessage(fmt.Sprintf(
			`{"sensor":"lane-1","model":"calex-pyrousb","celsius":%.1f,"measured_celsius":%.1f,"housing_celsius":25,"emissivity":0.98,"fever":false,"fever_threshold":37.5,"events":[],"cause":"change"}`, c, c))}
	}
	routine := []tmpl{mk("thermo1", "calex", sample(36.5), ok), mk("thermo1", "calex", sample(36.9), ok)}
	if set == "routine" {
		b.plan = routine
		return b
	}
	doc := func(row2 string) reading.Payload {
		d, err := mrz.Parse([]string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", row2}, now)
		if err != nil {
			log.Fatal(err)
		}
		return d
	}
	specimen := mk("reader1", "mrz", doc("L898902C36UTO7408122F1204159ZE184226B<<<<<10"), ok) // expired: an alert
	failing := mk("reader1", "mrz", doc("L898902C37UTO7408122F1204159ZE184226B<<<<<10"), ok)  // check digit: an alert
	alarm := mk("trace1", "tracedetector", reading.Received{KindName: "trace_sample", JSON: json.RawMessage(
		`{"record":"sample","result":"ALARM","alarm":true,"substances":["TNT","RDX"],"substance_list":"TNT, RDX","confidence":0.93,"sample":"S0050","device_time":"2026-11-01T09:06:00Z"}`)}, ok)
	clean := mk("trace1", "tracedetector", reading.Received{KindName: "trace_sample", JSON: json.RawMessage(
		`{"record":"sample","result":"CLEAR","alarm":false,"substances":[],"confidence":0.99,"sample":"S0051","device_time":"2026-11-01T09:07:00Z"}`)}, ok)
	// Per ten readings: five samples, two documents, two clean traces, one alarm.
	b.plan = []tmpl{routine[0], specimen, routine[1], clean, routine[0], failing, routine[1], clean, routine[0], alarm}
	return b
}

func (b *box) next() (string, []byte) {
	t := b.plan[b.n%len(b.plan)]
	b.n++
	b.seqs[t.device]++
	msg := make([]byte, 0, len(t.before)+len(t.mid)+len(t.after)+60)
	msg = append(msg, t.before...)
	msg = strconv.AppendUint(msg, b.seqs[t.device], 10)
	msg = append(msg, t.mid...)
	msg = time.Now().UTC().AppendFormat(msg, time.RFC3339Nano)
	msg = append(msg, t.after...)
	return t.topic, msg
}

// mosquitto is Debian's broker as a bare relay: password file, no
// persistence, one subscriber per round.
type mosquitto struct {
	cmd         *exec.Cmd
	url         string
	version     string
	subPassword string
}

func startMosquitto(bin, tmp string, creds []cred) (*mosquitto, error) {
	if _, err := exec.LookPath(bin); err != nil {
		return nil, fmt.Errorf("%s not found (scripts/deps.sh installs it): %w", bin, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	m := &mosquitto{url: fmt.Sprintf("tcp://127.0.0.1:%d", port), subPassword: randHex(8)}
	var pw bytes.Buffer
	for _, c := range creds {
		fmt.Fprintf(&pw, "%s:%s\n", c.box, c.password)
	}
	fmt.Fprintf(&pw, "sub:%s\n", m.subPassword)
	pwFile := filepath.Join(tmp, "mosquitto.passwd")
	if err := os.WriteFile(pwFile, pw.Bytes(), 0o600); err != nil {
		return nil, err
	}
	if out, err := exec.Command("mosquitto_passwd", "-U", pwFile).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mosquitto_passwd -U: %v: %s", err, out)
	}
	// Started as root, mosquitto would drop to its own user, which cannot
	// read our private temporary directory: it stays who we are.
	me := "mosquitto"
	if u, err := user.Current(); err == nil {
		me = u.Username
	}
	conf := fmt.Sprintf("user %s\nlistener %d 127.0.0.1\nallow_anonymous false\npassword_file %s\npersistence false\nmax_queued_messages 1000000\nmax_inflight_messages 64\nmax_connections -1\n", me, port, pwFile)
	confFile := filepath.Join(tmp, "mosquitto.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	m.cmd = exec.Command(bin, "-c", confFile)
	var stderr bytes.Buffer
	m.cmd.Stderr = &stderr
	if err := m.cmd.Start(); err != nil {
		return nil, err
	}
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			break
		}
		if i > 200 {
			m.stop()
			return nil, fmt.Errorf("not listening: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out, err := exec.Command(bin, "-h").CombinedOutput(); err == nil || len(out) > 0 {
		m.version = strings.TrimPrefix(strings.SplitN(string(out), "\n", 2)[0], "mosquitto ")
	}
	return m, nil
}

func (m *mosquitto) stop() {
	if m.cmd != nil && m.cmd.Process != nil {
		m.cmd.Process.Kill()
		m.cmd.Wait()
	}
}
