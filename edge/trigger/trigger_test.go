package trigger

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/kordon/kordon/internal/reading"
)

type recorder struct {
	mu   sync.Mutex
	reqs []Request
}

func (r *recorder) Fire(req Request) (Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	return Result{Action: "activated"}, nil
}

func received(kind, js string) reading.Payload {
	return reading.Received{KindName: kind, JSON: json.RawMessage(js)}
}

func TestRulesMatch(t *testing.T) {
	rules, err := Compile([]Match{
		{Name: "rpm", Kind: "radiation", Payload: map[string]any{"event": "alarm", "alarm.sigma": 5}},
		{Name: "door", Device: "door1", Payload: map[string]any{"active": true}},
		{Name: "bad", Quality: "bad"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var e Engine
	a := &recorder{}
	detach := e.Attach("cctv1", a, rules)
	for _, tc := range []struct {
		r    reading.Reading
		want string
	}{
		{reading.Reading{Device: "rpm1", Payload: received("radiation", `{"event":"alarm","alarm":{"sigma":5}}`)}, "rule:rpm"},
		{reading.Reading{Device: "rpm1", Payload: received("radiation", `{"event":"alarm","alarm":{"sigma":4}}`)}, ""},
		{reading.Reading{Device: "rpm1", Payload: received("radiation", `{"event":"alarm","alarm":"high"}`)}, ""},
		{reading.Reading{Device: "rpm1", Payload: received("radiation", `{"event":"alarm"}`)}, ""},
		{reading.Reading{Device: "door1", Payload: received("contact", `{"active":true}`)}, "rule:door"},
		{reading.Reading{Device: "door2", Payload: received("contact", `{"active":true}`)}, ""},
		{reading.Reading{Device: "door1", Payload: received("contact", `{"active":"true"}`)}, ""},
		{reading.Reading{Device: "x", Quality: reading.Quality{Status: reading.Bad}, Payload: received("k", `[]`)}, "rule:bad"},
		{reading.Reading{Device: "x", Payload: received("k", `not json`)}, ""},
		// An actuator's own readings never fire it.
		{reading.Reading{Device: "cctv1", Quality: reading.Quality{Status: reading.Bad}, Payload: received("cctv", `{}`)}, ""},
	} {
		a.reqs = nil
		e.Take(tc.r)
		got := ""
		if len(a.reqs) == 1 {
			got = a.reqs[0].Cause
		}
		if got != tc.want || len(a.reqs) > 1 {
			t.Errorf("%s %s: fired %v, want %q", tc.r.Device, tc.r.Payload.(reading.Received).JSON, a.reqs, tc.want)
		}
	}
	detach()
	if _, err := e.Fire("cctv1", Request{}); err == nil {
		t.Error("Fire after detach succeeded")
	}
}

func TestCompileErrors(t *testing.T) {
	for want, ms := range map[string][]Match{
		"matches every reading": {{Name: "all"}},
		"quality must be":       {{Kind: "a", Quality: "great"}},
		"repeated":              {{Name: "a", Kind: "x"}, {Name: "a", Kind: "y"}},
		"empty field name":      {{Payload: map[string]any{"a..b": 1}}},
		"only strings":          {{Payload: map[string]any{"a": map[string]any{"b": 1}}}},
		"a value is needed":     {{Payload: map[string]any{"a": nil}}},
	} {
		if _, err := Compile(ms); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want %q", ms, err, want)
		}
	}
}

// FuzzTake: any payload JSON on any reading is matched without panics,
// and fires at most once per actuator.
func FuzzTake(f *testing.F) {
	f.Add("scanner_event", `{"alarm":true,"lane":"L2"}`, "ok")
	f.Add("radiation", `{"event":"alarm","alarm":{"sigma":5.0}}`, "bad")
	f.Add("document", `{"valid":false,"checks":[{"ok":false}]}`, "suspect")
	rules, err := Compile([]Match{
		{Kind: "scanner_event", Payload: map[string]any{"alarm": true}},
		{Payload: map[string]any{"alarm.sigma": 5, "event": "alarm"}},
		{Quality: "bad", Payload: map[string]any{"valid": false}},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, kind, js, quality string) {
		var e Engine
		a := &recorder{}
		e.Attach("cctv1", a, rules)
		e.Take(reading.Reading{Device: "d", Quality: reading.Quality{Status: reading.Status(quality)}, Payload: received(kind, js)})
		if len(a.reqs) > 1 {
			t.Fatalf("fired %d times", len(a.reqs))
		}
	})
}
