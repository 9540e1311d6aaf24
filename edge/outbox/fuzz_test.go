package outbox

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
)

// FuzzDecodeBody: a record body from disk never panics the decoder, and a
// decoded record rebuilds without reading outside its dicts.
func FuzzDecodeBody(f *testing.F) {
	o := &Outbox{}
	s := &segment{dictIdx: map[string]uint64{}}
	js := []byte(`{"schema":"kordon.reading/2","device":"r1","seq":7,"origin":"2026-12-01T11:14:09.123Z","clock":"synced","payload":{"n":1},"personal":["/payload/n"]}`)
	rec, _ := o.encode(s, Routine, "r1", 7, 1, js)
	for len(rec) > recHeader {
		body, n, err := unframe(rec)
		if err != nil {
			break
		}
		f.Add(bytes.Clone(body))
		rec = rec[n:]
	}
	f.Add([]byte{0, 0, 2, 'r', '1', 1, 0, 0, '{', '}'})
	f.Add([]byte{1, 0})
	f.Add([]byte{typeDict, 1, 'x'})
	dicts := [][]byte{[]byte("r1"), []byte(`{"seq":`), nil}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeRaw(body)
		if err != nil || r.dict {
			return
		}
		if !r.resolves(dicts) {
			return
		}
		if _, err := r.envelope(dicts, nil); err != nil {
			t.Fatalf("resolving record fails to rebuild: %v", err)
		}
	})
}

// FuzzEnvelopeRoundTrip: whatever JSON Append is given, Next gives back the
// same bytes.
func FuzzEnvelopeRoundTrip(f *testing.F) {
	f.Add([]byte(`{"schema":"kordon.reading/2","crossing":"kz","box":"b1","device":"t1","kind":"temperature","driver":"thermometer","incarnation":"0123456789abcdef","seq":1,"origin":"2026-12-01T11:14:09.123456789Z","clock":"synced","quality":{"status":"ok"},"payload":{"celsius":36.6}}`), uint64(1))
	f.Add([]byte(`{"seq":12,"origin":"2026-12-01T11:14:09+02:00","payload":{},"personal":["/payload/x"]}`), uint64(12))
	f.Add([]byte(`{"seq":1`), uint64(1))
	f.Add([]byte(`"seq":1"payload":,"personal":[`), uint64(1))
	f.Fuzz(func(t *testing.T, js []byte, seq uint64) {
		if seq == 0 {
			return
		}
		o := &Outbox{}
		s := &segment{dictIdx: map[string]uint64{}}
		buf, dicts := o.encode(s, Protected, "t1", seq, 5, js)
		all := append(s.dicts, dicts...)
		for len(buf) > 0 {
			body, n, err := unframe(buf)
			if err != nil {
				t.Fatalf("unframe: %v", err)
			}
			buf = buf[n:]
			r, err := decodeRaw(body)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if r.dict {
				continue
			}
			back, err := r.envelope(all, nil)
			if err != nil || !bytes.Equal(back, js) {
				t.Fatalf("envelope %q came back as %q (%v)", js, back, err)
			}
		}
	})
}

// FuzzRecoverSegment: whatever bytes a segment holds after a power cut or a
// failing SD card, opening the outbox never fails or panics, and the box can
// still take a reading, with a sequence number above any it recovered
// within the incarnation it then has.
func FuzzRecoverSegment(f *testing.F) {
	dir := f.TempDir()
	o, err := Open(dir, Options{SegmentBytes: 64 << 10})
	if err != nil {
		f.Fatal(err)
	}
	appendN(f, o, "r1", Protected, 3, 10)
	o.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	seg, _ := os.ReadFile(segs[0])
	end := len(seg)
	for end > dataStart && seg[end-1] == 0 {
		end--
	}
	f.Add(seg[:end+8])
	f.Add(seg[:end-3])                                      // torn tail
	f.Add(append(seg[:end], 0xff, 0xff, 0xff, recMagic, 1)) // garbage after
	flipped := bytes.Clone(seg[:end])
	flipped[dataStart+20] ^= 4
	f.Add(flipped)
	f.Add([]byte{})
	state, _ := os.ReadFile(filepath.Join(dir, "state.json"))
	// Each run fsyncs several times: on a tmpfs (when the fuzzer may mount
	// one) that costs nothing, and the fuzzer gets thousands of runs, not tens.
	base := f.TempDir()
	if syscall.Mount("tmpfs", base, "tmpfs", 0, "size=256m") == nil {
		f.Cleanup(func() { syscall.Unmount(base, 0) })
	}
	var runs atomic.Int64
	f.Fuzz(func(t *testing.T, seg []byte) {
		dir := filepath.Join(base, fmt.Sprint(runs.Add(1)))
		os.Mkdir(dir, 0o700)
		defer os.RemoveAll(dir)
		os.WriteFile(filepath.Join(dir, "state.json"), state, 0o600)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seg-%020d.log", 1)), seg, 0o600); err != nil {
			t.Fatal(err)
		}
		o, err := Open(dir, Options{SegmentBytes: 64 << 10, MaxBytes: 1 << 20})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer o.Close()
		before := o.LastSeq("r1")
		seq, err := o.Append("r1", Protected, func(seq uint64) ([]byte, error) { return body("r1", seq, 1), nil })
		if err != nil {
			t.Fatalf("recovered outbox cannot take a reading: %v", err)
		}
		if seq <= before {
			t.Fatalf("new reading got seq %d, not above recovered %d", seq, before)
		}
	})
}
