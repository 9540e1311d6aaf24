package hub

import (
	"testing"

	"github.com/kordon/kordon/drivers"
)

// FuzzParseRules: any rules file is compiled or refused with an error;
// never a panic, and compiled rules evaluate without one.
func FuzzParseRules(f *testing.F) {
	fams, err := drivers.Families()
	if err != nil {
		f.Fatal(err)
	}
	for _, fam := range fams {
		if fam.Rules != nil {
			f.Add(string(fam.Rules))
		}
	}
	f.Add(corrRules)
	f.Add("rules:\n  - id: x\n    when: payload.a > 1\n    severity: low\n    cooldown: 1s\n    clear: payload.a < 1\n")
	f.Fuzz(func(t *testing.T, src string) {
		rs, err := compileRules("fuzz.yaml", []byte(src))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		for i, p := range []string{`{"a":2,"alarm":true,"valid":false,"events":["fever_onset"]}`, `{}`, `{"a":"x"}`} {
			feed(t, &testRules{ruleSet: rs}, "dev"+string(rune('a'+i)), uint64(i+1), 0, "document", p)
		}
	})
}
