package dicos

import (
	"bytes"
	"testing"

	"github.com/kordon/kordon/drivers/xray/dicos/dicostest"
)

// FuzzParseDICOS feeds arbitrary bytes (seeded with synthetic reports and
// images written by the library's writer) to the TDR extraction: it must
// return an error or a consistent report, never panic.
func FuzzParseDICOS(f *testing.F) {
	f.Add(dicostest.TDRFile(f, dicostest.AlarmSpec()))
	f.Add(dicostest.ImageFile(f, "1.2.3"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, r, err := Parse(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		if r == nil {
			return
		}
		if h.SOPClassUID != SOPClassTDR || r.Objects == nil {
			t.Fatalf("report without TDR class or objects slice: %+v", h)
		}
		for _, o := range r.Objects {
			if o.Polygon == nil {
				t.Fatal("object without polygon slice")
			}
		}
		_ = r.Alarm()
	})
}
