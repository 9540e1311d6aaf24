package hub

import (
	"slices"
	"testing"

	"github.com/google/cel-go/cel"
)

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
					if gate.admits(k) || src == "" {
						return
					}
					gated++
					prg := map[string]cel.Program{"when": r.prg, "clear": r.clearPrg, "with": r.withPrg}[what]
					out, _, evalErr := prg.Eval(vars)
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
