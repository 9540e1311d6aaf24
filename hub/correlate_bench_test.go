package hub

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/reading"
)

// BenchmarkDecideHubbench is the rules' state machine (decide, the default
// rules) for hubbench's mixed readings as the committer meets them: 200
// boxes in turn, each cycling through the plan of ten (five thermometer
// samples, two documents, two clean traces, one trace alarm), every
// reading stamped when sent (35,000 a second in all), one job's state a
// reading, a batch's every 1024. Correlation dominates it: a box's
// documents wait, up to 32, for alarms the cool-down makes repeats.
// "fixed" stamps the readings as BenchmarkCommitterCPU's hubbench set
// does: the thermometer's samples all at one time a day before, the
// traces at the start, the documents as sent.
func BenchmarkDecideHubbench(b *testing.B) {
	for _, stamps := range []string{"sent", "fixed"} {
		b.Run(stamps, func(b *testing.B) { benchDecideHubbench(b, stamps == "fixed") })
	}
}

func benchDecideHubbench(b *testing.B, fixed bool) {
	rs, err := defaultRules()
	if err != nil {
		b.Fatal(err)
	}
	plan := []struct{ device, kind, payload string }{
		{"thermo1", "temperature", `{"celsius":36.5,"fever":false,"events":[]}`},
		{"reader1", "document", `{"valid":true,"expired":false}`},
		{"thermo1", "temperature", `{"celsius":36.5,"fever":false,"events":[]}`},
		{"trace1", "trace_sample", `{"alarm":false}`},
		{"thermo1", "temperature", `{"celsius":36.5,"fever":false,"events":[]}`},
		{"reader1", "document", `{"valid":false}`},
		{"thermo1", "temperature", `{"celsius":36.5,"fever":false,"events":[]}`},
		{"trace1", "trace_sample", `{"alarm":false}`},
		{"thermo1", "temperature", `{"celsius":36.5,"fever":false,"events":[]}`},
		{"trace1", "trace_sample", `{"alarm":true}`},
	}
	const boxes = 200
	matches := make([]*matched, len(plan))
	for k, p := range plan {
		r := &reading.Reading{Crossing: "kz", Box: "box-001", Device: p.device, Driver: "x", Seq: 1, Origin: t0,
			Quality: reading.Quality{Status: reading.OK}, Payload: reading.Received{KindName: p.kind, JSON: json.RawMessage(p.payload)}}
		var v map[string]any
		if err := json.Unmarshal([]byte(p.payload), &v); err != nil {
			b.Fatal(err)
		}
		matches[k] = rs.match(ruleVars(r, v))
	}
	names := make([]string, boxes)
	for k := range names {
		names[k] = fmt.Sprintf("box-%03d", k+1)
	}
	var r reading.Reading
	batch := rs.state.begin()
	alerts, changes, i := 0, 0, 0
	for b.Loop() {
		k := (i / boxes) % len(plan)
		p := plan[k]
		origin := t0.Add(time.Duration(i) * time.Second / 35000)
		if fixed && p.kind == "temperature" {
			origin = t0.Add(-24 * time.Hour)
		} else if fixed && p.kind == "trace_sample" {
			origin = t0
		}
		r = reading.Reading{Crossing: "kz", Box: names[i%boxes], Device: p.device, Seq: uint64(i/boxes + 1),
			Origin: origin, Payload: reading.Received{KindName: p.kind}}
		st := batch.begin()
		a, c := decide(matches[k], st, "kz", &r, contract.ReadingRef{Box: r.Box, Device: r.Device, Seq: r.Seq}, r.Origin)
		st.commit()
		alerts, changes = alerts+len(a), changes+len(c)
		if i++; i%1024 == 0 {
			batch.commit()
			batch = rs.state.begin()
		}
	}
	b.ReportMetric(float64(alerts)/float64(b.N), "alerts/reading")
	b.ReportMetric(float64(changes)/float64(b.N), "changes/reading")
}
