package hub

import (
	"syscall"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// BenchmarkReadingJob is ingestHook.readingJob, what the hub does for each
// reading on the box's goroutine before the group commit: the parse, the
// watchlist and the rules' expressions (the default rules, as hubbench's
// hub runs them). One op is one reading: "routine" is hubbench's routine
// set (thermometer samples), "mixed" cycles through its mixed set's plan
// (per ten readings: five samples, two documents, two clean traces, one
// trace alarm). Run it with -benchmem beside the same benchmark built from
// the code before a change. cpu-ns/op is the process's CPU time (every
// thread: the garbage collector's too) per reading, which other processes
// on a shared machine disturb less than the wall clock.
func BenchmarkReadingJob(b *testing.B) {
	p := benchParser(b)
	rs, err := defaultRules()
	if err != nil {
		b.Fatal(err)
	}
	h := &Hub{} // no watchlist configured, as in hubbench
	ih := &ingestHook{parse: p, rules: rs, watch: h.watchlistAlerts}
	by := map[string]benchReading{}
	for _, r := range benchReadings(b) {
		by[r.name] = r
	}
	routine, doc, failing, alarm, clean := by["routine"], by["document"], by["document_failing"], by["trace_alarm"], by["trace_clear"]
	sets := []struct {
		name string
		plan []benchReading
	}{
		{"routine", []benchReading{routine}},
		{"mixed", []benchReading{routine, doc, routine, clean, routine, failing, routine, clean, routine, alarm}},
	}
	for _, set := range sets {
		b.Run(set.name, func(b *testing.B) {
			b.ReportAllocs()
			matches := 0
			i := 0
			cpu0 := cpuTime(b)
			for b.Loop() {
				r := set.plan[i%len(set.plan)]
				i++
				j := ih.readingJob(benchBox, r.device, packets.Packet{Payload: r.msg})
				if j.kind != jobReading {
					b.Fatalf("%s refused", r.name)
				}
				for _, w := range j.match.when {
					if w {
						matches++
					}
				}
			}
			b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			if set.name == "mixed" && matches == 0 {
				b.Fatal("no rule held on the mixed set")
			}
		})
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
