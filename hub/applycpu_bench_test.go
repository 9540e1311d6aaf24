package hub

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/sys/unix"
)

// BenchmarkCommitterCPU is the CPU the group committer's goroutine spends
// per reading: each batch's ApplyAll, COMMIT and Committed, run on one
// locked thread and timed by that thread's own CPU clock, so that neither
// the jobs' making nor whatever else shares the machine counts (the
// commit benchmarks' rates and process CPU move with both). The batches
// are of 200 boxes' routine readings, or of mixed ones (of ten: five
// samples, three documents raising an alert, two more samples).
func BenchmarkCommitterCPU(b *testing.B) {
	for _, set := range []string{"routine", "mixed"} {
		for _, batch := range []int{1024, 64} {
			b.Run(fmt.Sprintf("%s/batch=%d", set, batch), func(b *testing.B) { benchCommitterCPU(b, set, batch) })
		}
	}
}

func benchCommitterCPU(b *testing.B, set string, batch int) {
	const boxes = 200
	h := benchHub(b, batch)
	doc := specimen(b, "box-001", "reader1", 1)
	docOrigin := []byte(originOf(b, doc))
	start := time.Now()
	seqs := map[string]uint64{}
	n := 0
	next := func() *job {
		i := n
		n++
		box := fmt.Sprintf("box-%03d", i%boxes+1)
		device, msg := "thermo1", []byte(nil)
		if set == "mixed" && (i/boxes)%10%3 == 1 {
			device = "reader1"
		}
		seqs[box+device]++
		seq := seqs[box+device]
		if device == "reader1" {
			msg = bytes.Replace(withSeq(doc, seq), []byte(`"box":"box-001"`), []byte(`"box":"`+box+`"`), 1)
			msg = bytes.Replace(msg, docOrigin, []byte(start.Add(time.Duration(i)*time.Millisecond).UTC().Format(time.RFC3339Nano)), 1)
		} else {
			msg = routineReading(box, device, seq)
		}
		j := h.ingest.readingJob(box, device, packets.Packet{Payload: msg})
		if j.kind != jobReading {
			b.Fatalf("reading %d refused: %+v", i, j)
		}
		return j
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var cpu time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		jobs := make([]*job, min(batch, b.N-done))
		for i := range jobs {
			jobs[i] = next()
		}
		runtime.GC() // the jobs' garbage is not the committer's
		b.StartTimer()
		t0 := threadCPU(b)
		tx, err := h.store.db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		if err := h.pipeline.ApplyAll(tx, jobs); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		h.pipeline.Committed(jobs)
		cpu += threadCPU(b) - t0
		done += len(jobs)
	}
	b.StopTimer()
	if got := h.Counters().Readings; got != int64(b.N) {
		b.Fatalf("stored %d of %d", got, b.N)
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "thread-cpu-µs/reading")
}

// threadCPU is the CPU time, user and system, the calling thread has used.
func threadCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFirstSight is what the gap tracker reads from the store when it
// first sees a device (after a start, or a box's new life), on the
// committer's goroutine: its contiguous mark and the box's lives before.
func BenchmarkFirstSight(b *testing.B) {
	h := benchHub(b, 64)
	i := 0
	for b.Loop() {
		i++
		k := devKey{fmt.Sprintf("box-%03d", i%200+1), fmt.Sprintf("%016x", i), "thermo1"}
		h.store.contiguous(k)
		if _, err := h.store.livesBefore(k.box, k.incarnation); err != nil {
			b.Fatal(err)
		}
		if _, err := h.store.accountedAbove(k, 0); err != nil {
			b.Fatal(err)
		}
	}
}
