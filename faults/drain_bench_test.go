package faults

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kordon/kordon/edge/outbox"
)

// BenchmarkDrainToFastPeer: edged drains a backlog of b.N routine readings
// (run with -benchtime 1000000x) into Debian's mosquitto, a peer that
// acknowledges fast, and in the same run a bare paho publisher sends the
// same number of readings with the same window to the same mosquitto. It
// reports both rates and their ratio, edged's RSS idle, with the backlog
// and at its highest during the drain, and the outbox's disk use once the
// backlog is delivered. A subscriber checks per-device order.
func BenchmarkDrainToFastPeer(b *testing.B) {
	n := b.N
	if n < 1000 {
		return // the framework's first probe; run with -benchtime 1000000x
	}
	state := stateDir(b)
	port := freePort(b)
	httpPort := freePort(b)
	conf := filepath.Join(b.TempDir(), "edged.yaml")
	writeFile(b, conf, fmt.Sprintf(`crossing: %s
box: %s
state_dir: %s
http: 127.0.0.1:%d
hub: {address: "tcp://127.0.0.1:%d", username: u, password: p, keepalive: 5s, max_reconnect_interval: 100ms}
outbox: {max_bytes: 2147483648}
devices: []
`, crossing, boxID, state, httpPort, port))
	logs := b.TempDir()
	// On a box edged runs from a read-only file system; a binary just
	// built has dirty pages the kernel cannot page out (internal/memtrim).
	syncFile(b, bins.edged)

	// Idle: an empty outbox, no hub.
	box := start(b, filepath.Join(logs, "edged-idle.log"), bins.edged, "-config", conf)
	waitStatus(b, httpPort)
	idle := rss(b, box.cmd.Process.Pid)
	box.stop(b)

	fillStart := time.Now()
	fillBacklog(b, state, n)
	b.Logf("backlog of %d readings written in %v", n, time.Since(fillStart).Round(time.Millisecond))

	box = start(b, filepath.Join(logs, "edged.log"), bins.edged, "-config", conf)
	waitStatus(b, httpPort)
	backlog := rss(b, box.cmd.Process.Pid)

	var peak, peakAnon, peakFile atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if m, err := memOf(box.cmd.Process.Pid); err == nil && m["VmRSS"] > peak.Load() {
				peak.Store(m["VmRSS"])
				peakAnon.Store(m["RssAnon"])
				peakFile.Store(m["RssFile"])
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	b.ResetTimer()
	startMosquitto(b, port)
	sub := subscribe(b, port, "kordon/v1/"+crossing+"/"+boxID+"/devices/+/readings")
	boxRate := sub.wait(b, n, 10*time.Minute)
	b.StopTimer()
	close(stopSampling)
	<-sampled
	if sub.disorder.Load() > 0 {
		b.Errorf("%d readings out of per-device order", sub.disorder.Load())
	}
	waitFor(b, 30*time.Second, "outbox drained", func() bool {
		st, err := statusOf(httpPort)
		return err == nil && st.Outbox != nil && st.Outbox.Records == 0
	})
	st, _ := statusOf(httpPort)
	disk := du(b, state)
	box.stop(b)

	// The peer: a bare publisher, same readings, same QoS and window.
	sub2 := subscribe(b, port, "bare/+/readings")
	go barePublish(b, port, n)
	peerRate := sub2.wait(b, n, 10*time.Minute)

	mib := func(v int64) float64 { return float64(v) / (1 << 20) }
	b.ReportMetric(boxRate, "box-readings/s")
	b.ReportMetric(peerRate, "bare-readings/s")
	b.ReportMetric(boxRate/peerRate, "box/bare")
	b.ReportMetric(mib(idle), "rss-idle-MiB")
	b.ReportMetric(mib(backlog), "rss-backlog-MiB")
	b.ReportMetric(mib(peak.Load()), "rss-drain-peak-MiB")
	b.ReportMetric(mib(peakAnon.Load()), "rss-drain-peak-anon-MiB")
	b.ReportMetric(mib(peakFile.Load()), "rss-drain-peak-file-MiB")
	b.ReportMetric(mib(disk), "disk-after-MiB")
	b.Logf("drain %.0f/s vs bare paho %.0f/s (ratio %.2f); edged RSS idle %.1f MiB, %d buffered %.1f MiB, peak while draining %.1f MiB (anonymous %.1f, file-backed %.1f); outbox after drain %.1f MiB on disk (%d segments)",
		boxRate, peerRate, boxRate/peerRate, mib(idle), n, mib(backlog), mib(peak.Load()), mib(peakAnon.Load()), mib(peakFile.Load()), mib(disk), st.Outbox.Segments)
}

func syncFile(b *testing.B, path string) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
}

// stateDir is a tmpfs when the test may mount one (fdatasync costs nothing
// there, so writing the backlog takes seconds, not minutes); else a temp dir.
func stateDir(b *testing.B) string {
	dir := b.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=2g"); err != nil {
		b.Logf("state dir on the test's disk (no tmpfs: %v)", err)
		return dir
	}
	b.Cleanup(func() { syscall.Unmount(dir, 0) })
	return dir
}

// routine is a thermometer heartbeat as edged renders it.
func routine(dev string, seq uint64, i int) []byte {
	origin := time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC).Add(time.Duration(i) * 7919 * time.Microsecond).Format(time.RFC3339Nano)
	return fmt.Appendf(nil, `{"schema":"kordon.reading/2","crossing":"%s","box":"%s","device":"%s","kind":"temperature","driver":"thermometer","incarnation":"3f9a1c0d7e2b4a65","seq":%d,"origin":"%s","clock":"synced","quality":{"status":"ok"},"payload":{"sensor":"lane-1","model":"calex-pyrousb","celsius":36.%d,"measured_celsius":36.%d,"housing_celsius":25,"emissivity":0.98,"fever":false,"fever_threshold":37.5,"events":[],"cause":"heartbeat"}}`,
		crossing, boxID, dev, seq, origin, i%10, i%10)
}

// fillBacklog appends n readings for two devices, 32 writers at a time so
// they share fdatasyncs.
func fillBacklog(b *testing.B, dir string, n int) {
	o, err := outbox.Open(dir, outbox.Options{MaxBytes: 2 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	var wg sync.WaitGroup
	var next atomic.Int64
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev := fmt.Sprintf("thermo%d", w%2+1)
			for i := int(next.Add(1)); i <= n; i = int(next.Add(1)) {
				if _, err := o.Append(dev, outbox.Routine, func(seq uint64) ([]byte, error) { return routine(dev, seq, i), nil }); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func waitStatus(b *testing.B, port int) {
	waitFor(b, 30*time.Second, "edged status page", func() bool { _, err := statusOf(port); return err == nil })
}

func waitFor(b *testing.B, limit time.Duration, what string, cond func() bool) {
	eventually(b, limit, what, cond)
}

func statusOf(port int) (boxStatus, error) {
	s := &station{boxHTTP: port}
	return s.status()
}

func rssOf(pid int) (int64, error) {
	m, err := memOf(pid)
	if err != nil {
		return 0, err
	}
	return m["VmRSS"], nil
}

// memOf reads a process's resident memory in bytes: VmRSS, and its
// anonymous (RssAnon: heap, stacks) and file-backed (RssFile: the
// executable's and libraries' pages) parts.
func memOf(pid int) (map[string]int64, error) {
	f, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	for _, l := range strings.Split(string(f), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok || !strings.HasPrefix(k, "VmRSS") && !strings.HasPrefix(k, "Rss") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return nil, err
		}
		m[k] = kb << 10
	}
	if _, ok := m["VmRSS"]; !ok {
		return nil, fmt.Errorf("no VmRSS")
	}
	return m, nil
}

func rss(b *testing.B, pid int) int64 {
	v, err := rssOf(pid)
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// du is the bytes the files under dir occupy on disk.
func du(b *testing.B, dir string) int64 {
	var total int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			total += fi.Sys().(*syscall.Stat_t).Blocks * 512
		}
		return nil
	})
	return total
}

func startMosquitto(b *testing.B, port int) {
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto"
	}
	if _, err := os.Stat(bin); err != nil {
		b.Skip("mosquitto not installed: run scripts/deps.sh")
	}
	dir := b.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	user := os.Getenv("USER")
	if user == "" {
		user = "root"
	}
	writeFile(b, conf, fmt.Sprintf("listener %d 127.0.0.1\nuser %s\nallow_anonymous true\npersistence false\nmax_queued_messages 0\nlog_dest stderr\nlog_type error\nlog_type notice\n", port, user))
	cmd := exec.Command(bin, "-c", conf)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
		}
	}()
	waitFor(b, 15*time.Second, "mosquitto listening", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// counter is a subscriber counting readings and checking that each
// device's sequence numbers only grow.
type counter struct {
	mu          sync.Mutex
	last        map[string]uint64
	n           atomic.Int64
	first, done atomic.Int64 // unix ns
	disorder    atomic.Int64
	want        atomic.Int64
	reached     chan struct{}
}

func subscribe(b *testing.B, port int, filter string) *counter {
	c := &counter{last: map[string]uint64{}, reached: make(chan struct{})}
	c.want.Store(-1)
	opts := mqtt.NewClientOptions().AddBroker(fmt.Sprintf("tcp://127.0.0.1:%d", port)).SetClientID(fmt.Sprintf("count-%d", time.Now().UnixNano())).SetCleanSession(true).SetOrderMatters(true)
	cl := mqtt.NewClient(opts)
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscriber connect: %v", tok.Error())
	}
	b.Cleanup(func() { cl.Disconnect(0) })
	tok := cl.Subscribe(filter, 0, func(_ mqtt.Client, m mqtt.Message) {
		now := time.Now().UnixNano()
		c.first.CompareAndSwap(0, now)
		p := m.Payload()
		seq := uint64(0)
		if i := bytes.Index(p, []byte(`"seq":`)); i >= 0 {
			for _, ch := range p[i+6:] {
				if ch < '0' || ch > '9' {
					break
				}
				seq = seq*10 + uint64(ch-'0')
			}
		}
		c.mu.Lock()
		if seq <= c.last[m.Topic()] {
			c.disorder.Add(1)
		}
		c.last[m.Topic()] = seq
		c.mu.Unlock()
		if c.n.Add(1) == c.want.Load() {
			c.done.Store(now)
			close(c.reached)
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	return c
}

// wait returns the rate from the first reading to the nth.
func (c *counter) wait(b *testing.B, n int, limit time.Duration) float64 {
	c.want.Store(int64(n))
	if c.n.Load() >= int64(n) {
		b.Fatal("counted before waiting")
	}
	select {
	case <-c.reached:
	case <-time.After(limit):
		b.Fatalf("only %d of %d readings arrived in %v", c.n.Load(), n, limit)
	}
	return float64(n-1) / (time.Duration(c.done.Load() - c.first.Load())).Seconds()
}

// bareWindow is edged's publish window (edge/publish.go): the peer gets
// the same number of readings in flight, or the ratio measures the windows.
const bareWindow = 256

// barePublish sends n readings with QoS 1 and the publisher's window, the
// way any MQTT client would without an outbox.
func barePublish(b *testing.B, port, n int) {
	opts := mqtt.NewClientOptions().AddBroker(fmt.Sprintf("tcp://127.0.0.1:%d", port)).SetClientID("bare").SetCleanSession(true)
	cl := mqtt.NewClient(opts)
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Errorf("bare connect: %v", tok.Error())
		return
	}
	defer cl.Disconnect(0)
	window := make(chan mqtt.Token, bareWindow)
	go func() {
		for i := 1; i <= n; i++ {
			dev := fmt.Sprintf("thermo%d", i%2+1)
			window <- cl.Publish("bare/"+dev+"/readings", 1, false, routine(dev, uint64(i), i))
		}
		close(window)
	}()
	for tok := range window {
		tok.Wait()
	}
}
