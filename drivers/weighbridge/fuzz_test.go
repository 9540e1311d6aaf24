package weighbridge

import (
	"math"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/drivertest"
)

// FuzzParseLine: any line is parsed or refused with an error, never a
// panic; a parsed line has a known state, mode and unit and a finite
// value, and a weighing made from it is one the schema admits.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{"ST,GS,+0012345kg", "US,NT,-0000120kg", "ST,GS,+038.000  t", "OL,GS,        kg", "ST,TR,+0083776lb", "ST,GS,+00123.4.5kg", ",,", "ST,GS,+9e9kg"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLine(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if _, ok := units[l.Unit]; !ok || l.State == "" || l.Mode == "" {
			t.Fatalf("ParseLine(%q) = %v: unknown unit, state or mode", s, l)
		}
		if l.Value == nil && l.State != "overload" {
			t.Fatalf("ParseLine(%q): no value for a %s line", s, l.State)
		}
		if l.Value != nil && (math.IsNaN(*l.Value) || math.Abs(*l.Value) >= 1e9) {
			t.Fatalf("ParseLine(%q): value %v out of the schema's range", s, *l.Value)
		}
		st := &settler{limit: 44000}
		if r, ok := st.take(s, time.Unix(0, 0), drivertest.NewOutput()); ok {
			if r.Payload.(Weight).Kg != nil && math.Abs(*r.Payload.(Weight).Kg) >= 1e9 {
				t.Fatalf("ParseLine(%q): kg out of the schema's range", s)
			}
		}
	})
}
