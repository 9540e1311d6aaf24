package actuator

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/internal/reading"
)

func compile(t testing.TB, specs ...Spec) []Rule {
	t.Helper()
	c, err := NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	var rs []Rule
	for _, s := range specs {
		r, err := c.Compile(s)
		if err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		rs = append(rs, r)
	}
	return rs
}

func vars(t testing.TB, r reading.Reading) *Vars {
	env, _ := r.MarshalJSON() // a payload that is not JSON gives no envelope: payload is then empty
	return NewVars(Input{Reading: &r, Envelope: env})
}

func received(kind, js string) reading.Payload {
	return reading.Received{KindName: kind, JSON: json.RawMessage(js)}
}

// TestCELRules: rules see the hub's variables, with the hub's meaning.
func TestCELRules(t *testing.T) {
	origin := time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
	r := reading.Reading{Box: "booth-01", Device: "xray1", Driver: "scanner-lines", Origin: origin,
		Quality: reading.Quality{Status: reading.Suspect, Reason: "ocr"}, Historical: true,
		Payload: received("scanner_event", `{"alarm":true,"lane":"L2","alarm_detail":{"sigma":5}}`)}
	for when, want := range map[string]bool{
		`kind == "scanner_event" && payload.alarm`:               true,
		`kind == "document" && !payload.valid`:                   false,
		`device == "xray1" && driver == "scanner-lines"`:         true,
		`box == "booth-01" && historical`:                        true,
		`quality.status == "suspect" && quality.reason == "ocr"`: true,
		`payload.alarm_detail.sigma >= 5.0`:                      true,
		`payload.lane.startsWith("L")`:                           true,
		`origin < timestamp("2026-12-01T12:00:00Z")`:             true,
		`payload.missing`:                                        false, // fails to evaluate: does not hold
		`payload.lane`:                                           false, // not a bool: does not hold
	} {
		rule := compile(t, Spec{When: when})[0]
		if got := rule.Holds(vars(t, r)); got != want {
			t.Errorf("%s = %v, want %v", when, got, want)
		}
	}
}

// TestPayloadDecodedOnlyWhenRead: a rule decided by kind does not decode
// the payload.
func TestPayloadDecodedOnlyWhenRead(t *testing.T) {
	rule := compile(t, Spec{When: `kind == "document" && !payload.valid`})[0]
	v := vars(t, reading.Reading{Payload: received("temperature", `{"celsius":36.6}`)})
	if rule.Holds(v) || v.decoded {
		t.Errorf("held or decoded the payload of another kind (decoded=%v)", v.decoded)
	}
	v = vars(t, reading.Reading{Payload: received("document", `{"valid":false}`)})
	if !rule.Holds(v) || !v.decoded {
		t.Error("a failing document did not match")
	}
}

// TestEqualityFormReadAsCEL: the rules boxes were configured with before
// CEL mean what they meant.
func TestEqualityFormReadAsCEL(t *testing.T) {
	rules := compile(t,
		Spec{Name: "rpm", Kind: "radiation", Payload: map[string]any{"event": "alarm", "alarm.sigma": 5}},
		Spec{Name: "door", Device: "door1", Payload: map[string]any{"active": true}},
		Spec{Name: "bad", Quality: "bad"},
	)
	if got, want := rules[0].When, `kind == "radiation" && has(payload.alarm.sigma) && payload.alarm.sigma == 5.0 && has(payload.event) && payload.event == "alarm"`; got != want {
		t.Errorf("CEL of the equality form:\n got %s\nwant %s", got, want)
	}
	for _, tc := range []struct {
		r    reading.Reading
		want string
	}{
		{reading.Reading{Device: "rpm1", Payload: received("radiation", `{"event":"alarm","alarm":{"sigma":5}}`)}, "rpm"},
		{reading.Reading{Device: "rpm1", Payload: received("radiation", `{"event":"alarm","alarm":{"sigma":4}}`)}, ""},
		{reading.Reading{Device: "rpm1", Payload: received("radiation", `{"event":"alarm","alarm":"high"}`)}, ""},
		{reading.Reading{Device: "rpm1", Payload: received("radiation", `{"event":"alarm"}`)}, ""},
		{reading.Reading{Device: "door1", Payload: received("contact", `{"active":true}`)}, "door"},
		{reading.Reading{Device: "door2", Payload: received("contact", `{"active":true}`)}, ""},
		{reading.Reading{Device: "door1", Payload: received("contact", `{"active":"true"}`)}, ""},
		{reading.Reading{Device: "x", Quality: reading.Quality{Status: reading.Bad}, Payload: received("k", `[]`)}, "bad"},
		{reading.Reading{Device: "x", Payload: received("k", `not json`)}, ""},
	} {
		got := ""
		v := vars(t, tc.r)
		for _, r := range rules {
			if r.Holds(v) {
				got = r.Name
				break
			}
		}
		if got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.r.Device, tc.r.Payload.(reading.Received).JSON, got, tc.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	c, err := NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	for want, s := range map[string]Spec{
		"when: missing: a CEL boolean expression": {Name: "all"},
		"when: column 8: Syntax error":            {When: `kind ==`},
		"undeclared reference to 'payloads'":      {When: `payloads.alarm`},
		"must be a bool expression, is string":    {When: `kind`},
		"not both":                                {When: `true`, Kind: "x"},
		"quality: must be ok, suspect or bad":     {Kind: "a", Quality: "great"},
		"payload: empty field name":               {Payload: map[string]any{"a..b": 1}},
		"only strings, numbers and booleans":      {Payload: map[string]any{"a": map[string]any{"b": 1}}},
		`write the condition in CEL instead`:      {Payload: map[string]any{"a": []any{1}}},
		"a value is needed":                       {Payload: map[string]any{"a": nil}},
	} {
		if _, err := c.Compile(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want %q", s, err, want)
		}
	}
}

// FuzzHolds: any payload JSON on any reading is evaluated without panics.
func FuzzHolds(f *testing.F) {
	f.Add("scanner_event", `{"alarm":true,"lane":"L2"}`, "ok")
	f.Add("radiation", `{"event":"alarm","alarm":{"sigma":5.0}}`, "bad")
	f.Add("document", `{"valid":false,"checks":[{"ok":false}]}`, "suspect")
	rules := compile(f,
		Spec{When: `kind == "scanner_event" && payload.alarm`},
		Spec{Payload: map[string]any{"alarm.sigma": 5, "event": "alarm"}},
		Spec{When: `quality.status == "bad" && !payload.valid`},
		Spec{When: `payload.lane.startsWith("L") || payload.alarm.sigma > 4.0`},
	)
	f.Fuzz(func(t *testing.T, kind, js, quality string) {
		v := vars(t, reading.Reading{Device: "d", Quality: reading.Quality{Status: reading.Status(quality)}, Payload: received(kind, js)})
		for _, r := range rules {
			r.Holds(v)
		}
	})
}

// BenchmarkHolds: one reading through a typical cctv rule list (the last
// one matches), payload decoded once.
func BenchmarkHolds(b *testing.B) {
	rules := compile(b,
		Spec{When: `kind == "document" && !payload.valid`},
		Spec{When: `kind == "trace_sample" && payload.alarm`},
		Spec{When: `kind == "scanner_event" && payload.alarm`},
	)
	r := reading.Reading{Device: "xray1", Payload: received("scanner_event", `{"alarm":true,"lane":"L2"}`)}
	env, _ := r.MarshalJSON()
	b.ReportAllocs()
	for b.Loop() {
		v := NewVars(Input{Reading: &r, Envelope: env})
		for i := range rules {
			if rules[i].Holds(v) {
				break
			}
		}
	}
}

// TestDecodedEnvelopeSameAsEncoded: rules read a payload the line parsed
// already (numbers as json.Number) exactly as one they parse themselves.
func TestDecodedEnvelopeSameAsEncoded(t *testing.T) {
	r := reading.Reading{Device: "t1", Payload: received("temperature", `{"celsius":38.2,"events":["fever_onset"],"n":{"k":[1,2]}}`)}
	env, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(env)))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for _, when := range []string{`payload.celsius > 38.0`, `"fever_onset" in payload.events`, `payload.n.k[1] == 2.0`} {
		rule := compile(t, Spec{When: when})[0]
		if !rule.Holds(NewVars(Input{Reading: &r, Envelope: env})) || !rule.Holds(NewVars(Input{Reading: &r, Decoded: doc})) {
			t.Errorf("%s does not hold on both", when)
		}
	}
}
