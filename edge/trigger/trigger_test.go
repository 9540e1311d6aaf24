package trigger

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/kordon/kordon/internal/actuator"
	"github.com/kordon/kordon/internal/reading"
)

type recorder struct {
	mu   sync.Mutex
	reqs []actuator.Request
}

func (r *recorder) Fire(req actuator.Request) (actuator.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	return actuator.Result{Action: "activated"}, nil
}

func received(kind, js string) reading.Payload {
	return reading.Received{KindName: kind, JSON: json.RawMessage(js)}
}

func compile(t testing.TB, specs ...actuator.Spec) []actuator.Rule {
	t.Helper()
	c, err := actuator.NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	var rs []actuator.Rule
	for _, s := range specs {
		r, err := c.Compile(s)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return rs
}

func take(e *Engine, r reading.Reading) {
	env, _ := r.MarshalJSON()
	e.Take(actuator.Input{Reading: &r, Envelope: env})
}

// TestTakeFiresFirstMatchingRule: each actuator fires once per reading,
// named by its first matching rule; its own readings never fire it; a
// detached actuator is gone.
func TestTakeFiresFirstMatchingRule(t *testing.T) {
	rules := compile(t,
		actuator.Spec{Name: "rpm", When: `kind == "radiation" && payload.event == "alarm"`},
		actuator.Spec{Name: "bad", When: `quality.status == "bad"`},
	)
	var e Engine
	a, other := &recorder{}, &recorder{}
	detach := e.Attach("cctv1", a, rules)
	e.Attach("cctv2", other, compile(t, actuator.Spec{Name: "door", When: `device == "door1"`}))
	for _, tc := range []struct {
		r           reading.Reading
		want, want2 string
	}{
		{reading.Reading{Device: "rpm1", Seq: 4, Quality: reading.Quality{Status: reading.Bad}, Payload: received("radiation", `{"event":"alarm"}`)}, "rule:rpm", ""},
		{reading.Reading{Device: "rpm1", Payload: received("radiation", `{"event":"clear"}`)}, "", ""},
		{reading.Reading{Device: "door1", Quality: reading.Quality{Status: reading.Bad}, Payload: received("contact", `{"active":true}`)}, "rule:bad", "rule:door"},
		{reading.Reading{Device: "cctv1", Quality: reading.Quality{Status: reading.Bad}, Payload: received("cctv", `{}`)}, "", ""},
	} {
		a.reqs, other.reqs = nil, nil
		take(&e, tc.r)
		for _, c := range []struct {
			rec  *recorder
			want string
		}{{a, tc.want}, {other, tc.want2}} {
			got := ""
			if len(c.rec.reqs) == 1 {
				got = c.rec.reqs[0].Cause
				if ref := c.rec.reqs[0].Reading; ref == nil || ref.Device != tc.r.Device || ref.Seq != tc.r.Seq {
					t.Errorf("%s: reading ref %+v", tc.r.Device, ref)
				}
			}
			if got != c.want || len(c.rec.reqs) > 1 {
				t.Errorf("%s %s: fired %v, want %q", tc.r.Device, tc.r.Payload.(reading.Received).JSON, c.rec.reqs, c.want)
			}
		}
	}
	detach()
	if _, err := e.Fire("cctv1", actuator.Request{}); err == nil {
		t.Error("Fire after detach succeeded")
	}
}

// FuzzTake: any payload JSON on any reading is matched without panics,
// and fires at most once per actuator.
func FuzzTake(f *testing.F) {
	f.Add("scanner_event", `{"alarm":true,"lane":"L2"}`, "ok")
	f.Add("radiation", `{"event":"alarm","alarm":{"sigma":5.0}}`, "bad")
	f.Add("document", `{"valid":false,"checks":[{"ok":false}]}`, "suspect")
	rules := compile(f,
		actuator.Spec{When: `kind == "scanner_event" && payload.alarm`},
		actuator.Spec{When: `payload.alarm.sigma == 5.0 && payload.event == "alarm"`},
		actuator.Spec{When: `quality.status == "bad" && !payload.valid`},
	)
	f.Fuzz(func(t *testing.T, kind, js, quality string) {
		var e Engine
		a := &recorder{}
		e.Attach("cctv1", a, rules)
		take(&e, reading.Reading{Device: "d", Quality: reading.Quality{Status: reading.Status(quality)}, Payload: received(kind, js)})
		if len(a.reqs) > 1 {
			t.Fatalf("fired %d times", len(a.reqs))
		}
	})
}
