package edge

import (
	"encoding/json"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/scanneralarm"
	"github.com/kordon/kordon/drivers/thermometer/screening"
	"github.com/kordon/kordon/internal/actuator"
	"github.com/kordon/kordon/internal/reading"
)

// BenchmarkReadingLine puts the reading's path on the box as it was (the
// envelope encoded for the outbox, encoded, decoded and encoded again for
// the booth, the payload encoded and decoded again for the triggers'
// equality rules) beside the line (encoded once, shared by the booth and
// the CEL rules), in one run, for a routine reading no rule is about and
// for an alarm a rule fires on. Both do the same work besides: schema
// validation, the booth's bookkeeping, the same three rules. The outbox's
// disk write, the same in both, is left out. It prints ns and allocations
// per reading for each path and their ratio (line/old).
func BenchmarkReadingLine(b *testing.B) {
	c36, t37 := 36.6, 37.5
	for _, tc := range []struct {
		name string
		r    reading.Reading
	}{
		{"routine", reading.Reading{Origin: time.Now(), Payload: screening.Temperature{Sensor: "lane-1", Model: "calex-pyrousb", Celsius: &c36, Measured: &c36, Threshold: &t37, Events: []string{}, Cause: "heartbeat"}}},
		{"alarm", reading.Reading{Origin: time.Now(), Raw: []byte("ALARM L2 KNIFE op=17\r\n"), Payload: scanneralarm.Event{Record: "alarm", Alarm: true, Lane: "L2", Category: "knife"}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			box := benchBox(b)
			r := tc.r
			r.Crossing, r.Box, r.Device, r.Driver, r.Incarnation, r.Clock, r.Quality = "kz-test", "booth-1", "dev1", "drv", "3f9a1c0d7e2b4a65", reading.ClockSynced, reading.Quality{Status: reading.OK}
			old := oldEngine{rules: []oldRule{
				{kind: "document", field: "valid", want: false},
				{kind: "trace_sample", field: "alarm", want: true},
				{kind: "scanner_event", field: "alarm", want: true},
			}}
			oldPath := func(seq uint64) {
				r.Seq = seq
				js, err := json.Marshal(r) // the outbox's bytes
				if err != nil || box.valid.Validate(js) != nil {
					b.Fatal("invalid reading", err)
				}
				box.booth.Show(&r, oldBoothEnvelope(r))
				old.take(r)
			}
			linePath := func(seq uint64) {
				t := &taken{r: r}
				if _, err := box.encode(t, seq); err != nil { // the outbox's bytes
					b.Fatal(err)
				}
				box.toBooth(t)
				box.toTriggers(t)
			}
			b.ResetTimer()
			oldNS, newNS := interleaved(b.N, oldPath, linePath)
			old.fired, box.fired = 0, 0
			oldAllocs, newAllocs := allocsPer(b.N, oldPath), allocsPer(b.N, linePath)
			b.StopTimer()
			if old.fired != b.N && old.fired != 0 || box.fired != old.fired { // counted in the allocation pass
				b.Fatalf("old path fired %d, line %d, of %d readings", old.fired, box.fired, b.N)
			}
			b.ReportMetric(oldNS, "old-ns/reading")
			b.ReportMetric(newNS, "line-ns/reading")
			b.ReportMetric(newNS/oldNS, "line/old-ns")
			b.ReportMetric(oldAllocs, "old-allocs/reading")
			b.ReportMetric(newAllocs, "line-allocs/reading")
			b.ReportMetric(newAllocs/oldAllocs, "line/old-allocs")
		})
	}
}

// interleaved times the two paths reading by reading, one after the
// other, so a change in the machine's load weighs on both alike.
func interleaved(n int, a, b func(seq uint64)) (aNS, bNS float64) {
	var da, db time.Duration
	for i := range n {
		t0 := time.Now()
		a(uint64(i + 1))
		t1 := time.Now()
		b(uint64(i + 1))
		da, db = da+t1.Sub(t0), db+time.Since(t1)
	}
	return float64(da.Nanoseconds()) / float64(n), float64(db.Nanoseconds()) / float64(n)
}

func allocsPer(n int, f func(seq uint64)) float64 {
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for i := range n {
		f(uint64(i + 1))
	}
	runtime.ReadMemStats(&m1)
	return float64(m1.Mallocs-m0.Mallocs) / float64(n)
}

type benchActuator struct{ box *benchBoxT }

func (a benchActuator) Fire(actuator.Request) (actuator.Result, error) {
	a.box.fired++
	return actuator.Result{Action: "activated"}, nil
}

type benchBoxT struct {
	*Box
	fired int
}

// benchBox is a box not running: its validator, booth and trigger engine,
// with a CCTV output's three rules in CEL attached.
func benchBox(b *testing.B) *benchBoxT {
	cfg := &Config{Crossing: "kz-test", Box: "booth-1", StateDir: b.TempDir()}
	box, err := New(cfg, nil, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	c, err := actuator.NewCompiler()
	if err != nil {
		b.Fatal(err)
	}
	var rules []actuator.Rule
	for _, when := range []string{`kind == "document" && !payload.valid`, `kind == "trace_sample" && payload.alarm`, `kind == "scanner_event" && payload.alarm`} {
		r, err := c.Compile(actuator.Spec{Name: "r", When: when})
		if err != nil {
			b.Fatal(err)
		}
		rules = append(rules, r)
	}
	bb := &benchBoxT{Box: box}
	box.act.engine.Attach("cctv1", benchActuator{bb}, rules)
	b.Cleanup(box.booth.Close)
	return bb
}

// oldBoothEnvelope is what the booth did before the line: encode the
// reading, decode it, drop raw, encode it again.
func oldBoothEnvelope(r reading.Reading) []byte {
	env, err := r.MarshalJSON()
	if err != nil {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(env, &m) != nil {
		return nil
	}
	delete(m, "raw")
	env, _ = json.Marshal(m)
	return env
}

// oldEngine is the trigger engine before CEL: kind equality, then the
// payload encoded and decoded into a map for its field equality.
type oldEngine struct {
	rules []oldRule
	fired int
}

type oldRule struct {
	kind  string
	field string
	want  any
}

func (e *oldEngine) take(r reading.Reading) {
	var payload map[string]any
	decoded := false
	for _, rule := range e.rules {
		if rule.kind != r.Kind() {
			continue
		}
		if !decoded {
			decoded = true
			if js, err := json.Marshal(r.Payload); err == nil {
				json.Unmarshal(js, &payload)
			}
		}
		if v, ok := payload[rule.field]; ok && v == rule.want {
			e.fired++
			return
		}
	}
}
