package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/sys/unix"

	"github.com/kordon/kordon/internal/reading"
)

// BenchmarkCommitterCPU is the CPU the group committer's goroutine spends
// per reading: each batch's ApplyAll, COMMIT and Committed, run on one
// locked thread and timed by that thread's own CPU clock, so that neither
// the jobs' making nor whatever else shares the machine counts (the
// commit benchmarks' rates and process CPU move with both). The batches
// are of 200 boxes' routine readings, of mixed ones (of ten: five
// samples, three documents raising an alert, two more samples), or of
// hubbench's mixed set (of ten: five samples, two documents raising an
// alert, two clean trace samples, one trace alarm, which the documents'
// correlation rule pairs with a document).
func BenchmarkCommitterCPU(b *testing.B) {
	for _, set := range []string{"routine", "mixed", "hubbench"} {
		for _, batch := range []int{1024, 64} {
			b.Run(fmt.Sprintf("%s/batch=%d", set, batch), func(b *testing.B) { benchCommitterCPU(b, set, batch) })
		}
	}
}

// benchJobs makes the readings of a set (see BenchmarkCommitterCPU) of 200
// boxes, each parsed into its job, one per call.
func benchJobs(b *testing.B, h *Hub, set string) func() *job {
	const boxes = 200
	doc := specimen(b, "box-001", "reader1", 1)
	docOrigin := []byte(originOf(b, doc))
	start := time.Now()
	seqs := map[string]uint64{}
	n := 0
	// hubbench's plan: what each of a box's ten readings is.
	hubbenchPlan := []struct {
		device string
		msg    []byte
	}{
		{"thermo1", nil}, {"reader1", doc}, {"thermo1", nil}, {"trace1", traceReading(b, false)}, {"thermo1", nil},
		{"reader1", failingDoc(b)}, {"thermo1", nil}, {"trace1", traceReading(b, false)}, {"thermo1", nil}, {"trace1", traceReading(b, true)},
	}
	next := func() *job {
		i := n
		n++
		box := fmt.Sprintf("box-%03d", i%boxes+1)
		device, msg := "thermo1", []byte(nil)
		switch {
		case set == "mixed" && (i/boxes)%10%3 == 1:
			device, msg = "reader1", doc
		case set == "hubbench":
			p := hubbenchPlan[(i/boxes)%10]
			device, msg = p.device, p.msg
		}
		seqs[box+device]++
		seq := seqs[box+device]
		if msg != nil {
			msg = bytes.Replace(withSeq(msg, seq), []byte(`"box":"box-001"`), []byte(`"box":"`+box+`"`), 1)
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
	return next
}

func benchCommitterCPU(b *testing.B, set string, batch int) {
	h := benchHub(b, batch)
	cpu, user := timedCommits(b, h, batch, benchJobs(b, h, set), nil)
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "thread-cpu-µs/reading")
	// The user part alone: the kernel's, mostly the commit's writes and
	// sync, moves with whatever else uses the disk.
	b.ReportMetric(float64(user.Nanoseconds())/1e3/float64(b.N), "thread-user-µs/reading")
	b.ReportMetric(float64(h.Counters().Alerts)/float64(b.N), "alerts/reading")
}

// timedCommits commits b.N of next's readings in batches, on this thread
// as the committer does on its own, and returns the thread's CPU (all,
// and user alone) in ApplyAll, COMMIT and Committed: neither the jobs'
// making nor what the releasing goroutine does counts. seen, when set, is
// given each batch once committed.
func timedCommits(b *testing.B, h *Hub, batch int, next func() *job, seen func([]*job)) (cpu, user time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		jobs := make([]*job, min(batch, b.N-done))
		for i := range jobs {
			jobs[i] = next()
		}
		runtime.GC() // the jobs' garbage is not the committer's
		b.StartTimer()
		t0, u0 := threadCPU(b)
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
		t1, u1 := threadCPU(b)
		cpu, user = cpu+t1-t0, user+u1-u0
		h.pipeline.Durable(jobs, nil) // on the releasing goroutine, not the committer's
		if seen != nil {
			seen(jobs)
		}
		done += len(jobs)
	}
	b.StopTimer()
	if got := h.Counters().Readings; got != int64(b.N) {
		b.Fatalf("stored %d of %d", got, b.N)
	}
	return cpu, user
}

// failingDoc is specimen's document with a wrong check digit (an alert of
// its own), as hubbench sends, at the same origin.
func failingDoc(b *testing.B) []byte {
	doc := specimen(b, "box-001", "reader1", 1)
	fixed := bytes.Replace(doc, []byte("L898902C36UTO"), []byte("L898902C37UTO"), 1)
	if bytes.Equal(fixed, doc) {
		b.Fatal("the specimen's document number is not in its reading")
	}
	return fixed
}

// traceReading is a trace detector's sample, an alarm or clean, as
// hubbench sends, at specimen's origin.
func traceReading(b *testing.B, alarm bool) []byte {
	doc := specimen(b, "box-001", "reader1", 1)
	payload := `{"record":"sample","result":"CLEAR","alarm":false,"substances":[],"confidence":0.99,"sample":"S0051","device_time":"2026-11-01T09:07:00Z"}`
	if alarm {
		payload = `{"record":"sample","result":"ALARM","alarm":true,"substances":["TNT","RDX"],"substance_list":"TNT, RDX","confidence":0.93,"sample":"S0050","device_time":"2026-11-01T09:06:00Z"}`
	}
	r := reading.Reading{Crossing: testCrossing, Box: "box-001", Device: "trace1", Driver: "tracedetector", Seq: 1,
		Origin: mustParse(b, originOf(b, doc)), Clock: reading.ClockSynced, Quality: reading.Quality{Status: reading.OK},
		Payload: reading.Received{KindName: "trace_sample", JSON: json.RawMessage(payload)}}
	js, err := json.Marshal(r)
	if err != nil {
		b.Fatal(err)
	}
	return js
}

// threadCPU is the CPU time the calling thread has used: user and
// system, and user alone.
func threadCPU(b *testing.B) (all, user time.Duration) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), time.Duration(ru.Utime.Nano())
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
