package dicos

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/kordon/kordon/drivers/xray/dicos/dicostest"
)

// TestHugeDeclaredLengthIsRefusedWithoutAllocatingIt: the DICOM library
// allocates an element's declared length before reading it; the guard
// refuses the file first, so a few bytes cannot cost gigabytes.
func TestHugeDeclaredLengthIsRefusedWithoutAllocatingIt(t *testing.T) {
	for _, vr := range []string{"UT", "OB", "UN"} {
		b := dicostest.HugeLength(vr)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err := Parse(bytes.NewReader(b), int64(len(b)))
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("%s: parsed a file declaring a 4 GiB element", vr)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
			t.Errorf("%s: parsing %d bytes allocated %d MiB", vr, len(b), grew>>20)
		}
	}
}
