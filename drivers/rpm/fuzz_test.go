package rpm

import (
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/rpm/record"
)

// FuzzParseRecord: no line makes the parser (or the tracker fed with what
// it accepts) panic; accepted count records have bounded fields.
func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{"GB,250,251,249,250", "NS,3,4,", "GX", "TT", "GH,2100,2200", "GB,-1", "ZZ,1", "", ",", "GB,99999999999999999999"} {
		f.Add(s)
	}
	o := defaultOptions()
	o.MinBackground = 1
	tk := newTracker(o)
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, line string) {
		r, err := record.Parse(line)
		if err != nil {
			return
		}
		if len(r.Counts) > record.MaxDetectors {
			t.Fatalf("%d counts accepted", len(r.Counts))
		}
		for _, c := range r.Counts {
			if c < 0 || c > record.MaxCount {
				t.Fatalf("count %d accepted", c)
			}
		}
		tk.add(r, at)
		if tk.occ != nil && len(tk.occ.samples) > 1000 {
			tk.occ = nil
		}
	})
}
