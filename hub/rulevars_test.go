package hub

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/kordon/kordon/internal/actuator"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/schema"
)

// The rules' variables resolved from the reading (ruleInput, celAdapter)
// against what cel-go gives for a map of every variable with its own
// conversions, the way the rules saw them before: every expression yields
// the same value, or fails with the same error.

// mapVars is every variable in a map, as cel-go takes them by default.
func mapVars(r *reading.Reading, payload map[string]any) map[string]any {
	return map[string]any{
		"kind": r.Kind(), "box": r.Box, "device": r.Device, "driver": r.Driver,
		"quality": map[string]string{"status": string(r.Quality.Status), "reason": r.Quality.Reason},
		"payload": payload, "origin": r.Origin.UTC(), "historical": r.Historical,
	}
}

// plainEnv is celEnv with cel-go's own conversions.
func plainEnv(tb testing.TB) *cel.Env {
	env, err := cel.NewEnv(actuator.Variables()...)
	if err != nil {
		tb.Fatal(err)
	}
	return env
}

// sameEval fails tb when src, compiled in both environments, evaluates
// otherwise on the reading; it reports whether src compiled.
func sameEval(tb testing.TB, plain, env *cel.Env, src string, r *reading.Reading, payloadJSON string) bool {
	tb.Helper()
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		return false
	}
	past, _ := plain.Compile(src)
	prg, err := program(env, ast) // as the rules' are made

	if err != nil {
		return false
	}
	pprg, err := plain.Program(past)
	if err != nil {
		tb.Fatalf("%s: compiles with the rules' adapter only: %v", src, err)
	}
	// Each side its own decode: neither may see the other's changes.
	want, _, wantErr := pprg.Eval(mapVars(r, decodePayload(tb, payloadJSON)))
	got, _, gotErr := prg.Eval(ruleVars(r, decodePayload(tb, payloadJSON)))
	sameResult(tb, src, payloadJSON, "map", got, gotErr, want, wantErr)
	// The payload as the parse gives it: its members (celPayload).
	in := ruleVars(r, nil)
	in.payload, in.adapter = &payload{members: membersOf(decodePayload(tb, payloadJSON))}, env.CELTypeAdapter()
	got, _, gotErr = prg.Eval(in)
	sameResult(tb, src, payloadJSON, "members", got, gotErr, want, wantErr)
	return true
}

func sameResult(tb testing.TB, src, payloadJSON, form string, got ref.Val, gotErr error, want ref.Val, wantErr error) {
	tb.Helper()
	switch {
	case (gotErr == nil) != (wantErr == nil):
		tb.Fatalf("%s on %s (%s): got %v, %v; want %v, %v", src, payloadJSON, form, got, gotErr, want, wantErr)
	case gotErr != nil:
		if gotErr.Error() != wantErr.Error() {
			tb.Fatalf("%s on %s (%s): error %q, want %q", src, payloadJSON, form, gotErr, wantErr)
		}
	case !sameVal(got, want):
		tb.Fatalf("%s on %s (%s): got %v (%v), want %v (%v)", src, payloadJSON, form, got, got.Type(), want, want.Type())
	}
}

// membersOf is a decoded payload's members (in the map's order: any
// order, each name once, as the parse gives them).
func membersOf(m map[string]any) []schema.Member {
	out := make([]schema.Member, 0, len(m))
	for k, v := range m {
		out = append(out, schema.Member{Name: k, Value: v})
	}
	return out
}

func sameVal(a, b ref.Val) bool {
	if a.Type() != b.Type() {
		return false
	}
	if a.Equal(b) == types.True {
		return true
	}
	// NaN is not equal to itself in CEL: compare what it prints as.
	d1, ok1 := a.(types.Double)
	d2, ok2 := b.(types.Double)
	return ok1 && ok2 && d1 != d1 && d2 != d2
}

// decodePayload decodes as the hub's parse does: numbers as float64.
func decodePayload(tb testing.TB, js string) map[string]any {
	inst, err := schema.Decode([]byte(js))
	if err != nil {
		tb.Fatalf("payload %s: %v", js, err)
	}
	m, _ := schema.Floats(inst).(map[string]any)
	return m
}

func varsReading(kind string) *reading.Reading {
	return &reading.Reading{Crossing: "kz", Box: "booth-01", Device: "thermo1", Driver: "calex", Seq: 7,
		Origin:  time.Date(2026, 11, 1, 9, 0, 0, 123456789, time.FixedZone("x", 3600)),
		Quality: reading.Quality{Status: reading.Suspect, Reason: "warming up"}, Historical: true,
		Payload: reading.Received{KindName: kind}}
}

var varsPayloads = []string{
	`{}`,
	`{"sensor":"lane-1","celsius":36.5,"fever":false,"events":[],"cause":"change","housing_celsius":25}`,
	`{"sensor":"lane-1","celsius":38.2,"events":["fever_onset","fault"],"fault":"stuck","fault_detail":"x"}`,
	`{"valid":false,"expired":true,"alarm":true,"objects":[{"category":"knife"},{}],"damaged":null}`,
	`{"alarm":{"channel":"gamma","detector":3,"sigma":7.25},"event":"alarm","n":1e300,"neg":-0.0}`,
	`{"list":[1,"a",true,null,[],{}],"m":{"a":1,"b":[2,3]},"empty":[],"s":"ünïcode"}`,
}

var varsExprs = []string{
	`kind`, `box`, `device`, `driver`, `quality`, `quality.status`, `quality.reason`, `origin`, `historical`, `payload`,
	`kind == "temperature" && "fever_onset" in payload.events`,
	`payload.events`, `payload.events == []`, `size(payload.events)`, `payload.events + ["x"]`, `type(payload.events)`,
	`payload.empty`, `payload.list`, `payload.list[0]`, `payload.list[5]`, `payload.list[4] == payload.empty`,
	`payload.m`, `payload.m.b[1]`, `payload.m == {"a": 1.0, "b": [2.0, 3.0]}`, `has(payload.m.c)`,
	`payload.objects[0].category`, `payload.objects[1].category`, `payload.damaged == null`,
	`payload.alarm.sigma > 7.0`, `string(int(payload.alarm.detector))`, `payload.n`, `payload.neg`, `1.0 / payload.neg`,
	`payload.missing`, `payload.celsius > 38`, `payload.celsius > 38.0`, `string(payload.celsius)`,
	`origin.getHours()`, `string(origin)`, `origin > timestamp("2026-01-01T00:00:00Z")`, `type(payload)`,
	`payload.s + "!"`, `dyn(payload.valid) == false`, `payload.list.exists(x, x == "a")`, `payload.events.all(e, e != "")`,
	// lists of constants, made once (program)
	`kind in ["temperature", "document"]`, `[1, 2.0, "a"] == [1, 2.0, "a"]`, `payload.celsius in [36.5, 38]`,
	`payload.m in [{"a": 1.0}]`, `payload.list in [[], [1]]`, `[[1], []]`, `size(["a", "b"])`, `[payload.celsius, 1]`,
	`payload.events + ["fault"]`, `"fault" in payload.events + []`, `payload.alarm in [true, 1, "x"]`, `[]`,
}

func TestRuleVarsEvaluateAsAMap(t *testing.T) {
	plain := plainEnv(t)
	env, err := celEnv()
	if err != nil {
		t.Fatal(err)
	}
	exprs := append([]string(nil), varsExprs...)
	rs, err := defaultRules()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs.rules {
		exprs = append(exprs, r.When, r.Clear, r.SummaryExpr)
		if r.Correlate != nil {
			exprs = append(exprs, r.Correlate.With)
		}
	}
	compiled := 0
	for _, kind := range []string{"temperature", "document", "trace_sample", "radiation", "threat_report"} {
		r := varsReading(kind)
		for _, p := range varsPayloads {
			for _, src := range exprs {
				if src != "" && sameEval(t, plain, env, src, r, p) {
					compiled++
				}
			}
		}
	}
	if compiled < len(exprs) {
		t.Fatalf("only %d evaluations compiled", compiled)
	}
}

// FuzzRuleVars: any expression on any payload evaluates alike either way.
func FuzzRuleVars(f *testing.F) {
	for _, p := range varsPayloads {
		for _, e := range varsExprs[:12] {
			f.Add(e, p)
		}
	}
	plain := plainEnv(f)
	env, err := celEnv()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src, payload string) {
		var m map[string]any
		if len(src) > 200 || json.Unmarshal([]byte(payload), &m) != nil || m == nil {
			return
		}
		sameEval(t, plain, env, src, varsReading("temperature"), payload)
	})
}
