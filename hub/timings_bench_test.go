package hub

import (
	"fmt"
	"math"
	"os"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kordon/kordon/hub/groupcommit"
)

// commitTimings collects where the group commit's time went while a
// benchmark runs, with the Go runtime's scheduling and GC pauses of the
// same span, so that a latency tail can be traced to its part.
type commitTimings struct {
	mu      sync.Mutex
	batches []groupcommit.BatchTimings
	ckpts   [][2]time.Time // start, end
	before  []metrics.Sample
	wrote   int64
}

// writeBytes is what this process has sent to the disk so far.
func writeBytes() int64 {
	b, _ := os.ReadFile("/proc/self/io")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

var runtimeHists = []string{"/sched/latencies:seconds", "/sched/pauses/total/gc:seconds"}

func watchCommits(h *Hub) *commitTimings {
	ct := &commitTimings{}
	f := func(t groupcommit.BatchTimings) {
		ct.mu.Lock()
		ct.batches = append(ct.batches, t)
		ct.mu.Unlock()
	}
	g := func(start time.Time, took time.Duration) {
		ct.mu.Lock()
		ct.ckpts = append(ct.ckpts, [2]time.Time{start, start.Add(took)})
		ct.mu.Unlock()
	}
	ct.before = readHists()
	ct.wrote = writeBytes()
	h.pipeline.timings.Store(&f)
	h.store.ckpt.timings.Store(&g)
	return ct
}

func readHists() []metrics.Sample {
	s := make([]metrics.Sample, len(runtimeHists))
	for i, n := range runtimeHists {
		s[i].Name = n
	}
	metrics.Read(s)
	return s
}

// stop detaches from h and summarises.
func (ct *commitTimings) stop(h *Hub) string {
	h.pipeline.timings.Store(nil)
	h.store.ckpt.timings.Store(nil)
	after := readHists()
	ct.mu.Lock()
	defer ct.mu.Unlock()
	bs := ct.batches
	var b strings.Builder
	fmt.Fprintf(&b, "%d batches, %.1f MiB written", len(bs), float64(writeBytes()-ct.wrote)/(1<<20))
	if len(bs) == 0 {
		return b.String()
	}
	part := func(name string, f func(groupcommit.BatchTimings) float64, unit string) {
		v := make([]float64, len(bs))
		for i, t := range bs {
			v[i] = f(t)
		}
		slices.Sort(v)
		q := func(x float64) float64 { return v[min(len(v)-1, int(x*float64(len(v))))] }
		fmt.Fprintf(&b, " | %s p50 %.2f p99 %.2f max %.2f%s", name, q(0.5), q(0.99), v[len(v)-1], unit)
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	part("jobs", func(t groupcommit.BatchTimings) float64 { return float64(t.Jobs) }, "")
	part("queued", func(t groupcommit.BatchTimings) float64 { return ms(t.Queued) }, "ms")
	part("apply", func(t groupcommit.BatchTimings) float64 { return ms(t.Apply) }, "ms")
	part("commit", func(t groupcommit.BatchTimings) float64 { return ms(t.Commit) }, "ms")
	part("notify", func(t groupcommit.BatchTimings) float64 { return ms(t.Notify) }, "ms")
	slow := slices.Clone(bs)
	slices.SortFunc(slow, func(x, y groupcommit.BatchTimings) int {
		return int(y.Apply + y.Commit - x.Apply - x.Commit)
	})
	var ck []float64
	for _, c := range ct.ckpts {
		ck = append(ck, ms(c[1].Sub(c[0])))
	}
	slices.Sort(ck)
	if len(ck) > 0 {
		fmt.Fprintf(&b, "\n    %d checkpoints: p50 %.1f max %.1f ms", len(ck), ck[len(ck)/2], ck[len(ck)-1])
	}
	// How many of the slow commits ran while a checkpoint did.
	var slowN, overlap int
	for _, t := range bs {
		if t.Commit < 10*time.Millisecond {
			continue
		}
		slowN++
		cs, ce := t.Start.Add(t.Fill+t.Apply), t.Start.Add(t.Fill+t.Apply+t.Commit)
		for _, c := range ct.ckpts {
			if c[0].Before(ce) && c[1].After(cs) {
				overlap++
				break
			}
		}
	}
	fmt.Fprintf(&b, "; commits over 10 ms: %d, of which during a checkpoint: %d", slowN, overlap)
	b.WriteString("\n    slowest:")
	for _, t := range slow[:min(5, len(slow))] {
		fmt.Fprintf(&b, " [%d jobs apply %.1f commit %.1f notify %.1f slow=%v]", t.Jobs, ms(t.Apply), ms(t.Commit), ms(t.Notify), t.SlowPath)
	}
	for i, n := range runtimeHists {
		fmt.Fprintf(&b, "\n    %s: %s", n, histDiff(ct.before[i].Value.Float64Histogram(), after[i].Value.Float64Histogram()))
	}
	return b.String()
}

// histDiff is the p50/p99/max of what a runtime histogram gained.
func histDiff(a, z *metrics.Float64Histogram) string {
	counts := make([]uint64, len(z.Counts))
	var total uint64
	for i := range z.Counts {
		counts[i] = z.Counts[i] - a.Counts[i]
		total += counts[i]
	}
	if total == 0 {
		return "none"
	}
	q := func(f float64) float64 {
		want := uint64(math.Ceil(f * float64(total)))
		var n uint64
		for i, c := range counts {
			n += c
			if n >= want && c > 0 {
				up := z.Buckets[i+1]
				if math.IsInf(up, 1) {
					up = z.Buckets[i]
				}
				return up * 1000
			}
		}
		return 0
	}
	return fmt.Sprintf("n %d p50 %.3f p99 %.3f p99.9 %.3f max %.3f ms", total, q(0.5), q(0.99), q(0.999), q(1))
}

// diskProbe is the peer of the legitimate box's latency on the disk: every
// legitPace it writes 8 KiB to a file beside the hub's database and syncs
// it, as a commit does, so a sync that stalls for everyone shows here too.
type diskProbe struct {
	stop chan struct{}
	done chan latencies
}

func startDiskProbe(dir string) *diskProbe {
	p := &diskProbe{stop: make(chan struct{}), done: make(chan latencies, 1)}
	go func() {
		var out latencies
		defer func() { slices.Sort(out.lat); p.done <- out }()
		f, err := os.CreateTemp(dir, "probe")
		if err != nil {
			return
		}
		defer os.Remove(f.Name())
		defer f.Close()
		buf := make([]byte, 8192)
		f.WriteAt(make([]byte, 1<<20), 0)
		f.Sync()
		tick := time.NewTicker(legitPace)
		defer tick.Stop()
		for i := int64(0); ; i++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			t0 := time.Now()
			f.WriteAt(buf, (i*8192)%(1<<20))
			f.Sync()
			out.lat = append(out.lat, time.Since(t0))
		}
	}()
	return p
}

func (p *diskProbe) end() string {
	close(p.stop)
	l := <-p.done
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	return fmt.Sprintf("disk probe (8 KiB + fsync every %v) p50 %.2f p99 %.2f max %.2f ms", legitPace, ms(l.q(0.5)), ms(l.q(0.99)), ms(l.q(1)))
}
