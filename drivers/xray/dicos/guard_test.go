package dicos

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/kordon/kordon/drivers/xray/dicos/dicostest"
)

// hugeLength is a Part-10 file whose one dataset element declares a
// 4 GiB - 16 value in a file of a few dozen bytes.
func hugeLength(vr string) []byte {
	var b bytes.Buffer
	b.Write(make([]byte, 128))
	b.WriteString("DICM")
	ts := "1.2.840.10008.1.2.1\x00"                                  // explicit VR little endian
	binary.Write(&b, binary.LittleEndian, [2]uint16{0x0002, 0x0000}) // meta group length
	b.WriteString("UL")
	binary.Write(&b, binary.LittleEndian, uint16(4))
	binary.Write(&b, binary.LittleEndian, uint32(8+len(ts)))
	binary.Write(&b, binary.LittleEndian, [2]uint16{0x0002, 0x0010})
	b.WriteString("UI")
	binary.Write(&b, binary.LittleEndian, uint16(len(ts)))
	b.WriteString(ts)
	binary.Write(&b, binary.LittleEndian, [2]uint16{0x0008, 0x0016}) // SOPClassUID
	b.WriteString(vr)
	binary.Write(&b, binary.LittleEndian, uint16(0))
	binary.Write(&b, binary.LittleEndian, uint32(0xFFFFFFF0))
	b.WriteString("1.2.840")
	return b.Bytes()
}

// TestHugeDeclaredLengthIsRefusedWithoutAllocatingIt: the DICOM library
// allocates an element's declared length before reading it; the guard
// refuses the file first, so a few bytes cannot cost gigabytes.
func TestHugeDeclaredLengthIsRefusedWithoutAllocatingIt(t *testing.T) {
	for _, vr := range []string{"UT", "OB", "UN"} {
		b := hugeLength(vr)
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

// TestGuardKeepsValidFiles: the guard lets every well-formed seed through
// whole.
func TestGuardKeepsValidFiles(t *testing.T) {
	for name, b := range map[string][]byte{"tdr": dicostest.TDRFile(t, dicostest.AlarmSpec()), "image": dicostest.ImageFile(t, "1.2.3")} {
		cut, err := checkLengths(bytes.NewReader(b), int64(len(b)))
		if err != nil || cut != int64(len(b)) {
			t.Errorf("%s: cut at %d of %d: %v", name, cut, len(b), err)
		}
	}
}
