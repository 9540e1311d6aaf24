package hub

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/reading"
)

// TestCorrelationWindowEdges: readings exactly the window apart pair; a
// reading of neither side drops the matches it finds past the window, so
// that a later reading older than it (a box's backlog) no longer pairs
// with them.
func TestCorrelationWindowEdges(t *testing.T) {
	rs := mustCompile(t, corrRules)
	feed(t, rs, "reader1", 1, 0, "document", `{"valid":true}`)
	if a := feed(t, rs, "trace1", 1, 2*time.Minute, "trace", `{"alarm":true}`); len(a) != 1 {
		t.Fatalf("document and alarm the window apart raised %d alerts, want 1", len(a))
	}
	feed(t, rs, "reader1", 2, 10*time.Minute, "document", `{"valid":true}`)
	feed(t, rs, "trace1", 2, 13*time.Minute, "trace", `{"alarm":false}`) // past the document's window
	if a := feed(t, rs, "trace1", 3, 11*time.Minute, "trace", `{"alarm":true}`); len(a) != 0 {
		t.Errorf("an alarm paired with a document dropped past the window: %+v", a)
	}
}

// BenchmarkCorrelateIdleReading is the rules' state machine for a reading
// of neither side of a correlation rule, in a box that keeps the most
// one-sided matches it may (a booth whose documents find no alarm): most
// readings of a busy booth.
func BenchmarkCorrelateIdleReading(b *testing.B) {
	rs, err := compileRules("rules.yaml", []byte(corrRules))
	if err != nil {
		b.Fatal(err)
	}
	mk := func(device string, seq uint64, at time.Duration, kind, payload string) (*reading.Reading, *matched) {
		r := &reading.Reading{Crossing: "kz", Box: "booth-01", Device: device, Driver: "x", Seq: seq, Origin: t0.Add(at),
			Quality: reading.Quality{Status: reading.OK}, Payload: reading.Received{KindName: kind, JSON: json.RawMessage(payload)}}
		var p map[string]any
		json.Unmarshal([]byte(payload), &p)
		return r, rs.match(ruleVars(r, p))
	}
	st := rs.state.begin()
	for i := range 40 {
		r, m := mk("reader1", uint64(i+1), time.Duration(i)*time.Millisecond, "document", `{"valid":true}`)
		decide(m, st, "kz", r, contract.ReadingRef{Box: r.Box, Device: r.Device, Seq: r.Seq}, r.Origin)
	}
	st.commit()
	r, m := mk("thermo1", 1, time.Second, "temperature", `{"celsius":36.5}`)
	ref := contract.ReadingRef{Box: r.Box, Device: r.Device, Seq: 1}
	batch := rs.state.begin()
	for b.Loop() {
		st := batch.begin()
		decide(m, st, "kz", r, ref, r.Origin)
		st.commit()
	}
}
