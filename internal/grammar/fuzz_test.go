package grammar

import (
	"errors"
	"testing"
)

// FuzzParse runs every built-in profile, and a grammar built from the
// fuzzed pattern, over fuzzed lines: nothing may panic, and a match must
// come with its record name.
func FuzzParse(f *testing.F) {
	f.Add("2026-11-01 09:00:01 L2 DECISION B000123 SEARCH knife", `(?P<a>\w+) (?P<time>\d+)`, "unix")
	f.Add("2026-11-01 09:05:00,S0042,ALARM,TNT;RDX,0.93", `(?P<time>.*)`, "2006-01-02")
	f.Add("T=99999999999999999999 SAMPLE=42 RESULT=ALARM", `T=(?P<time>\d+).*`, "unix_ms")
	var gs []*Grammar
	for _, p := range Profiles() {
		g, err := Compile(Spec{Profile: p})
		if err != nil {
			f.Fatal(err)
		}
		gs = append(gs, g)
	}
	f.Fuzz(func(t *testing.T, line, pattern, layout string) {
		// Lines reach a grammar through framing, which caps them at 512
		// bytes; patterns are written by installers. Bounding both keeps
		// the fuzzer on parsing, not on RE2's (linear but large) cost of
		// huge programs over huge inputs.
		if len(line) > 512 || len(pattern) > 256 {
			return
		}
		all := gs
		if g, err := Compile(Spec{TimeFormat: layout, Records: []Record{{Name: "r", Pattern: pattern, Alarm: &Cond{}}}}); err == nil {
			all = append(all[:len(all):len(all)], g)
		}
		for _, g := range all {
			m, err := g.Parse(line)
			if err != nil {
				if !errors.Is(err, ErrNoMatch) {
					t.Fatalf("unexpected error %v", err)
				}
				continue
			}
			if m.Record == "" || m.Fields == nil {
				t.Fatalf("match without record: %+v", m)
			}
		}
	})
}
