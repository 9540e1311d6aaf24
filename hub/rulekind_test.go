package hub

import (
	"slices"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
)

// fullProgram compiles src as written, without its kind gate's cut.
func fullProgram(t *testing.T, src string) cel.Program {
	t.Helper()
	env, err := celEnv()
	if err != nil {
		t.Fatal(err)
	}
	a, iss := env.Compile(src)
	if iss.Err() != nil {
		t.Fatal(iss.Err())
	}
	prg, err := env.Program(a)
	if err != nil {
		t.Fatal(err)
	}
	return prg
}

// The kind an expression requires is read from its top-level conjunction
// only: anything that could hold for another kind is not gated.
func TestRequiredKind(t *testing.T) {
	rules := "rules:\n"
	cases := []struct {
		when  string
		kinds []string
	}{
		{`kind == "document" && !payload.valid`, []string{"document"}},
		{`payload.alarm && "temperature" == kind`, []string{"temperature"}},
		{`(kind == "a" && payload.x) && payload.y`, []string{"a"}},
		{`kind in ["a", "b"] && payload.alarm`, []string{"a", "b"}},
		{`payload.alarm && kind in ["a"]`, []string{"a"}},
		{`kind == "a" || payload.alarm`, nil},
		{`kind != "a" && payload.alarm`, nil},
		{`!(kind == "a") && payload.alarm`, nil},
		{`payload.alarm`, nil},
		{`kind == "a" ? payload.x : true`, nil},
		{`[1].exists(kind, kind == 1) && payload.x`, nil},
		{`kind in [payload.k, "a"] && payload.x`, nil},
		{`kind in payload.kinds && payload.x`, nil},
		{`kind in [] && payload.x`, nil},
		{`kind in ["a", ""] && payload.x`, nil},
		{`!(kind in ["a"]) && payload.x`, nil},
	}
	for i, c := range cases {
		rules += "  - id: r" + string(rune('a'+i)) + "\n    severity: low\n    when: '" + c.when + "'\n"
	}
	rs, err := compileRules("rules.yaml", []byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		if got := rs.rules[i].whenKind; !slices.Equal(got, c.kinds) || (got == nil) != (c.kinds == nil) {
			t.Errorf("%s: requires kinds %q, want %q", c.when, got, c.kinds)
		}
	}
}

// Gating the default rules by kind changes no result: an expression a
// reading's kind does not admit evaluates to false, without an error.
func TestKindGateChangesNothing(t *testing.T) {
	rs, err := defaultRules()
	if err != nil {
		t.Fatal(err)
	}
	payloads := []map[string]any{
		{},
		{"valid": false, "alarm": true, "events": []any{"fever_onset", "fault"}, "celsius": 39.0, "sensor": "s", "fault": "stuck"},
		{"valid": true, "expired": true, "alarm": false, "damaged": true, "objects": []any{}},
	}
	kinds := []string{"document", "temperature", "trace_sample", "scanner_event", "threat_report", "radiation", "other"}
	gated := 0
	for _, r := range rs.rules {
		for _, k := range kinds {
			for _, p := range payloads {
				vars := map[string]any{"kind": k, "box": "b", "device": "d", "driver": "x",
					"quality": map[string]string{"status": "ok", "reason": ""}, "payload": p, "historical": false}
				check := func(what string, gate kindGate, src string) {
					if src == "" {
						return
					}
					full := fullProgram(t, src)
					out, _, evalErr := full.Eval(vars)
					if gate.admits(k) {
						// What runs for this kind (gatedProgram) gives what the
						// expression as written gives.
						prg := map[string]cel.Program{"when": r.prg, "clear": r.clearPrg, "with": r.withPrg}[what]
						got, _, gotErr := prg.Eval(vars)
						if (gotErr != nil) != (evalErr != nil) || gotErr == nil && got.Equal(out) != types.True {
							t.Errorf("rule %s %s on kind %q: runs to %v, err %v; as written %v, err %v", r.ID, what, k, got, gotErr, out, evalErr)
						}
						return
					}
					gated++
					if v := evalErr == nil && out.Value() == true; v || evalErr != nil {
						t.Errorf("rule %s %s on kind %q: %v, err %v; the gate would skip it", r.ID, what, k, out, evalErr)
					}
				}
				check("when", r.whenKind, r.When)
				check("clear", r.clearKind, r.Clear)
				if r.Correlate != nil {
					check("with", r.withKind, r.Correlate.With)
				}
			}
		}
	}
	if gated == 0 {
		t.Fatal("no default rule is gated by kind")
	}
}

// The program a gate admits is cut to what is left of its conjunction
// only when that is a bool expression, and then gives what the
// expression as written gives, errors included.
func TestGatedProgram(t *testing.T) {
	env, err := celEnv()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		src string
		cut bool
	}{
		{`kind == "a" && !payload.x`, true},
		{`"a" == kind && "x" in payload.l`, true},
		{`(kind == "a" && payload.x) && payload.y`, true},
		{`payload.x && (payload.y && kind == "a")`, true},
		{`kind == "a" && has(payload.x) && payload.x`, true},
		{`kind in ["a", "b"] && payload.x`, false}, // dyn alone: not cut
		{`kind == "a" && payload.x`, false},
		{`payload.x`, false},
		{`kind == "a" || payload.x`, false},
	}
	payloads := []map[string]any{{}, {"x": true, "y": true, "l": []any{"x"}}, {"x": false, "y": true}, {"x": "s", "y": false, "l": "x"},
		{"x": true, "y": "s"}, {"x": 1.0, "l": []any{}}}
	for _, c := range cases {
		a, iss := env.Compile(c.src)
		if iss.Err() != nil {
			t.Fatal(iss.Err())
		}
		g := gatedProgram(env, a)
		if (g != nil) != c.cut {
			t.Errorf("%s: cut %v, want %v", c.src, g != nil, c.cut)
		}
		if g == nil {
			continue
		}
		full, err := env.Program(a)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range payloads {
			vars := map[string]any{"kind": "a", "box": "b", "device": "d", "driver": "x",
				"quality": map[string]string{"status": "ok", "reason": ""}, "payload": p, "historical": false}
			want, _, wantErr := full.Eval(vars)
			got, _, gotErr := g.Eval(vars)
			if (gotErr != nil) != (wantErr != nil) || gotErr == nil && got.Equal(want) != types.True {
				t.Errorf("%s on %v: cut gives %v, err %v; as written %v, err %v", c.src, p, got, gotErr, want, wantErr)
			}
		}
	}
	// The default rules of the routine set's kind are cut.
	rs, err := defaultRules()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs.rules {
		if r.whenKind.only() == "temperature" {
			a, _ := env.Compile(r.When)
			if gatedProgram(env, a) == nil {
				t.Errorf("rule %s (%s) not cut", r.ID, r.When)
			}
		}
	}
}

// match goes through the rules the kind index lists for a reading's kind:
// that is every rule one of whose gates admits the kind, in order, for the
// kinds the gates name and for any other.
func TestKindIndexListsEveryRuleThatMayHold(t *testing.T) {
	builtin, err := defaultRules()
	if err != nil {
		t.Fatal(err)
	}
	mixed, err := compileRules("rules.yaml", []byte(`rules:
  - id: gated
    severity: low
    when: 'kind == "a" && payload.x'
  - id: ungated
    severity: low
    when: 'payload.alarm'
  - id: two
    severity: low
    when: 'kind in ["a", "b"] && payload.x'
    clear: 'kind == "c" && payload.y'
  - id: none
    severity: low
    when: 'kind in [] && payload.x'
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, rules := range [][]*Rule{builtin.rules, mixed.rules, nil} {
		x := newKindIndex(rules)
		kinds := []string{"", "never-named"}
		for _, r := range rules {
			kinds = append(append(append(kinds, r.whenKind...), r.clearKind...), r.withKind...)
		}
		for _, kind := range kinds {
			var want []int
			for i, r := range rules {
				if r.whenKind.admits(kind) || r.clearKind.admits(kind) || r.withKind.admits(kind) {
					want = append(want, i)
				}
			}
			if got := x.of(kind); !slices.Equal(got, want) {
				t.Errorf("kind %q: index lists rules %v, want %v", kind, got, want)
			}
		}
	}
}
