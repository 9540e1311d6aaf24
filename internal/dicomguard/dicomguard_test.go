package dicomguard_test

import (
	"bytes"
	"testing"

	"github.com/kordon/kordon/drivers/xray/dicos/dicostest"
	"github.com/kordon/kordon/internal/dicomguard"
)

// TestHugeDeclaredLengthIsCut: the file is cut at the element whose
// declared length it cannot hold.
func TestHugeDeclaredLengthIsCut(t *testing.T) {
	for _, vr := range []string{"UT", "OB", "UN"} {
		b := dicostest.HugeLength(vr)
		cut, err := dicomguard.Check(bytes.NewReader(b), int64(len(b)))
		if err == nil || cut >= int64(len(b)) {
			t.Errorf("%s: cut at %d of %d, err %v", vr, cut, len(b), err)
		}
	}
}

// TestGuardKeepsValidFiles: the guard lets every well-formed seed through
// whole.
func TestGuardKeepsValidFiles(t *testing.T) {
	for name, b := range map[string][]byte{"tdr": dicostest.TDRFile(t, dicostest.AlarmSpec()), "image": dicostest.ImageFile(t, "1.2.3")} {
		cut, err := dicomguard.Check(bytes.NewReader(b), int64(len(b)))
		if err != nil || cut != int64(len(b)) {
			t.Errorf("%s: cut at %d of %d: %v", name, cut, len(b), err)
		}
	}
}
