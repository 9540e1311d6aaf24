package outbox

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeBody: a record body from disk never panics the decoder, and a
// decoded record's parts lie inside the body.
func FuzzDecodeBody(f *testing.F) {
	f.Add([]byte{0, 2, 'r', '1', 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, '{', '}'})
	f.Add([]byte{1, 0})
	f.Add([]byte{1, 255, 'x'})
	f.Fuzz(func(t *testing.T, body []byte) {
		rec, err := decodeBody(body)
		if err != nil {
			return
		}
		if rec.Device == "" || len(rec.Device)+len(rec.JSON)+18 != len(body) {
			t.Fatalf("decoded %q with %d JSON bytes from %d bytes", rec.Device, len(rec.JSON), len(body))
		}
	})
}

// FuzzRecoverSegment: whatever bytes a segment holds after a power cut or a
// failing SD card, opening the outbox never panics, and when it opens, the
// box can still take a reading with a sequence number above any it recovered.
func FuzzRecoverSegment(f *testing.F) {
	good := func(dev string, seq uint64) []byte {
		body := []byte{byte(Protected), byte(len(dev))}
		body = append(body, dev...)
		body = binary.BigEndian.AppendUint64(body, seq)
		body = binary.BigEndian.AppendUint64(body, 0)
		body = append(body, `{"n":1}`...)
		h := make([]byte, headerLen)
		binary.LittleEndian.PutUint32(h[0:], uint32(len(body)))
		binary.LittleEndian.PutUint32(h[4:], crc32.Checksum(body, castagnoli))
		return append(h, body...)
	}
	two := append(good("r1", 1), good("r1", 2)...)
	f.Add(two)
	f.Add(two[:len(two)-3])                 // torn tail
	f.Add(append(two, 0xff, 0xff, 0xff, 1)) // garbage after
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, seg []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "seg-00000000000000000001.log"), seg, 0o600); err != nil {
			t.Fatal(err)
		}
		o, err := Open(dir, Options{SegmentBytes: 4096, MaxBytes: 1 << 20})
		if err != nil {
			return // refused loudly: acceptable, as long as it did not panic
		}
		before := o.LastSeq("r1")
		seq, err := o.Append("r1", Protected, func(seq uint64) ([]byte, error) { return []byte(`{"n":2}`), nil })
		if err != nil {
			o.Close()
			t.Fatalf("recovered outbox cannot take a reading: %v", err)
		}
		if seq <= before {
			t.Fatalf("new reading got seq %d, not above recovered %d", seq, before)
		}
		o.Close()
	})
}
