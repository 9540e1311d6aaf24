package hub

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// BenchmarkCommitterCPULive is BenchmarkCommitterCPU's hubbench set as
// hubbench itself sends it: every reading's origin is its sending time
// (the routine samples' too, whose fixed origin a day back otherwise
// drops each box's pending correlation matches), and the boxes are not in
// step (each starts its plan of ten at another reading). So the
// correlation rule pairs each box's alarm with a document, raising once,
// then logging a repeat per alarm within its cool-down: a batch's log
// entries alternate between raises and other changes, as in a hubbench
// round, which the other benchmark's batches (raises only) never do.
func BenchmarkCommitterCPULive(b *testing.B) {
	for _, batch := range []int{1024, 4096} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { benchCommitterCPULive(b, batch) })
	}
}

func benchCommitterCPULive(b *testing.B, batch int) {
	h := benchHub(b, batch)
	changes := 0
	cpu, _ := timedCommits(b, h, batch, liveReadings(b, h), func(jobs []*job) {
		for _, j := range jobs {
			changes += len(j.changes) - len(j.alerts)
		}
	})
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "thread-cpu-µs/reading")
	b.ReportMetric(float64(h.Counters().Alerts)/float64(b.N), "alerts/reading")
	b.ReportMetric(float64(changes)/float64(b.N), "changes/reading")
}

// liveReadings makes the jobs of hubbench's mixed set as hubbench sends
// it (BenchmarkCommitterCPULive), one a call.
func liveReadings(b *testing.B, h *Hub) func() *job {
	const boxes = 200
	doc := specimen(b, "box-001", "reader1", 1)
	alarm, clean := traceReading(b, true), traceReading(b, false)
	plan := []struct {
		device      string
		msg, origin []byte
	}{
		{"thermo1", nil, nil}, {"reader1", doc, nil}, {"thermo1", nil, nil}, {"trace1", clean, nil}, {"thermo1", nil, nil},
		{"reader1", failingDoc(b), nil}, {"thermo1", nil, nil}, {"trace1", clean, nil}, {"thermo1", nil, nil}, {"trace1", alarm, nil},
	}
	for i := range plan {
		if plan[i].msg != nil {
			plan[i].origin = []byte(originOf(b, plan[i].msg))
		}
	}
	start := time.Now()
	seqs := map[string]uint64{}
	n := 0
	return func() *job {
		i := n
		n++
		box := fmt.Sprintf("box-%03d", i%boxes+1)
		p := plan[(i/boxes+i%boxes)%len(plan)]
		seqs[box+p.device]++
		seq := seqs[box+p.device]
		origin := []byte(start.Add(time.Duration(i) * time.Millisecond).UTC().Format(time.RFC3339Nano))
		var msg []byte
		if p.msg != nil {
			msg = bytes.Replace(withSeq(p.msg, seq), []byte(`"box":"box-001"`), []byte(`"box":"`+box+`"`), 1)
			msg = bytes.Replace(msg, p.origin, origin, 1)
		} else {
			msg = bytes.Replace(routineReading(box, p.device, seq), []byte(`"origin":"2026-12-01T11:00:00.123456Z"`),
				[]byte(`"origin":"`+string(origin)+`"`), 1)
		}
		j := h.ingest.readingJob(box, p.device, packets.Packet{Payload: msg})
		if j.kind != jobReading {
			b.Fatalf("reading %d refused: %+v", i, j)
		}
		return j
	}
}

// BenchmarkAlertWrites is the committer's CPU in alertWrites.write alone,
// per log entry written (raises and other changes), over batches of
// BenchmarkCommitterCPULive's readings: ApplyAll's steps, run here so that
// the write between them is timed by itself (thread CPU).
func BenchmarkAlertWrites(b *testing.B) {
	for _, batch := range []int{1024, 4096} {
		b.Run(fmt.Sprintf("live/batch=%d", batch), func(b *testing.B) {
			h := benchHub(b, batch)
			next := liveReadings(b, h)
			p := h.pipeline
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var cpu time.Duration
			entries := 0
			b.ResetTimer()
			for done := 0; done < b.N; {
				b.StopTimer()
				jobs := make([]*job, min(batch, b.N-done))
				for i := range jobs {
					jobs[i] = next()
				}
				runtime.GC()
				sqltx, err := h.store.db.Begin()
				if err != nil {
					b.Fatal(err)
				}
				tx := p.store.in(sqltx)
				if err := insertReadings(tx, jobs); err != nil {
					b.Fatal(err)
				}
				var w alertWrites
				for _, j := range jobs {
					if err := p.record(tx, j); err != nil {
						b.Fatal(err)
					}
					if !j.added {
						continue
					}
					alerts, changes, st := p.decide(j)
					st.commit()
					w.add(j, alerts, changes)
				}
				b.StartTimer()
				t0, _ := threadCPU(b)
				if err := w.write(tx, jobs); err != nil {
					b.Fatal(err)
				}
				t1, _ := threadCPU(b)
				b.StopTimer()
				cpu += t1 - t0
				for _, j := range jobs {
					entries += len(j.changes)
				}
				if err := countActivity(tx, jobs); err != nil {
					b.Fatal(err)
				}
				if err := sqltx.Commit(); err != nil {
					b.Fatal(err)
				}
				p.Committed(jobs)
				done += len(jobs)
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(entries), "thread-cpu-µs/entry")
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "thread-cpu-µs/reading")
			b.ReportMetric(float64(entries)/float64(b.N), "entries/reading")
		})
	}
}
