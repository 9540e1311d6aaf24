package outbox

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
)

// drain reads every readable record and returns them.
func drain(t *testing.T, o *Outbox) []Record {
	t.Helper()
	var out []Record
	for {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		r, err := o.Next(ctx)
		if err != nil {
			return out
		}
		out = append(out, r)
	}
}

// taken is every (incarnation, seq) a device's records carry.
type taken map[[2]any]bool

func keys(rs []Record) taken {
	k := taken{}
	for _, r := range rs {
		k[[2]any{r.Incarnation, r.Seq}] = true
	}
	return k
}

func reopen(t *testing.T, dir string, o *Outbox, opts Options) *Outbox {
	t.Helper()
	if o != nil {
		o.Close()
	}
	o, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// TestErasedStateIsNewIncarnation: a re-provisioned box (state dir erased)
// restarts its sequence at 1, under a new incarnation.
func TestErasedStateIsNewIncarnation(t *testing.T) {
	dir := t.TempDir()
	o := reopen(t, dir, nil, Options{})
	first := o.Incarnation()
	if !validID(first) || len(first) != 16 {
		t.Fatalf("incarnation %q is not 16 hex characters", first)
	}
	appendN(t, o, "reader1", Protected, 5, 10)
	o.Close()
	os.RemoveAll(dir)
	o = reopen(t, dir, nil, Options{})
	if o.Incarnation() == first {
		t.Fatal("erased state kept the incarnation")
	}
	if st := o.Stats(); st.IncarnationReason != IncNew {
		t.Fatalf("reason %q, want %q", st.IncarnationReason, IncNew)
	}
	appendN(t, o, "reader1", Protected, 1, 10)
	r := next(t, o)
	if r.Seq != 1 || r.Incarnation != o.Incarnation() {
		t.Fatalf("first reading after re-provisioning: %s/%d", r.Incarnation, r.Seq)
	}
	// A clean restart keeps it.
	inc := o.Incarnation()
	o = reopen(t, dir, o, Options{})
	if o.Incarnation() != inc {
		t.Fatal("a clean restart changed the incarnation")
	}
}

// TestDamagedStateJSON: an empty, truncated or corrupt state.json does not
// stop the outbox: it opens with a new incarnation, keeps the records it
// holds (delivered under the old one) and counts nothing it did not lose.
func TestDamagedStateJSON(t *testing.T) {
	for name, damage := range map[string]func(b []byte) []byte{
		"empty":     func([]byte) []byte { return nil },
		"truncated": func(b []byte) []byte { return b[:len(b)/2] },
		"garbage":   func(b []byte) []byte { return []byte("\x00\x00\x00{") },
		"missing":   nil,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			o := reopen(t, dir, nil, Options{})
			old := o.Incarnation()
			appendN(t, o, "reader1", Protected, 5, 10)
			o.Close()
			p := filepath.Join(dir, "state.json")
			if damage == nil {
				os.Remove(p)
			} else {
				b, _ := os.ReadFile(p)
				os.WriteFile(p, damage(b), 0o600)
			}
			o = reopen(t, dir, nil, Options{})
			st := o.Stats()
			if o.Incarnation() == old {
				t.Fatal("damaged state.json kept the incarnation")
			}
			want := IncStateCorrupt
			if damage == nil {
				want = IncStateMissing
			}
			if st.IncarnationReason != want {
				t.Fatalf("reason %q, want %q", st.IncarnationReason, want)
			}
			appendN(t, o, "reader1", Protected, 2, 10)
			got := drain(t, o)
			if len(got) != 7 {
				t.Fatalf("%d records after recovery, want 5 old + 2 new", len(got))
			}
			// Each incarnation's records in order (the two take turns).
			seqs := map[string][]uint64{}
			for _, r := range got {
				seqs[r.Incarnation] = append(seqs[r.Incarnation], r.Seq)
			}
			if fmt.Sprint(seqs[old]) != "[1 2 3 4 5]" || fmt.Sprint(seqs[o.Incarnation()]) != "[1 2]" {
				t.Fatalf("records by incarnation: %v", seqs)
			}
		})
	}
}

// segmentFiles lists the segments of dir, oldest first.
func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	s, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	if len(s) == 0 {
		t.Fatal("no segments")
	}
	return s
}

// offsets returns each record's offset in a segment file (dicts included).
func offsets(t *testing.T, name string) []int64 {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	s := &segment{f: f, end: fi.Size()}
	var r reader
	var out []int64
	for off := int64(dataStart); ; {
		_, n, err := r.at(s, off)
		if err != nil {
			return out
		}
		out = append(out, off)
		off += n
	}
}

// TestTruncatedSegment: an active segment cut short (losing readings it
// had committed) gives a new incarnation; the readings still there are kept
// under the old one, the lost ones are counted, and no (incarnation, seq)
// is ever handed out twice.
func TestTruncatedSegment(t *testing.T) {
	dir := t.TempDir()
	o := reopen(t, dir, nil, Options{SegmentBytes: 64 << 10})
	old := o.Incarnation()
	appendN(t, o, "reader1", Protected, 40, 50)
	// The hub has the first 30.
	for range 30 {
		r := next(t, o)
		o.Ack(r.Incarnation, r.Device, r.Seq)
	}
	o.Close()
	segs := segmentFiles(t, dir)
	offs := offsets(t, segs[len(segs)-1])
	if err := os.Truncate(segs[len(segs)-1], offs[len(offs)-5]); err != nil {
		t.Fatal(err)
	}
	o = reopen(t, dir, nil, Options{SegmentBytes: 64 << 10})
	st := o.Stats()
	if o.Incarnation() == old || st.IncarnationReason != IncSegmentCorrupt {
		t.Fatalf("truncated segment: incarnation %s (%s), old %s", o.Incarnation(), st.IncarnationReason, old)
	}
	if st.Dropped[LostCorrupt] != 5 {
		t.Fatalf("lost counted %d, want 5", st.Dropped[LostCorrupt])
	}
	appendN(t, o, "reader1", Protected, 10, 50)
	seen := taken{}
	for _, r := range drain(t, o) {
		k := [2]any{r.Incarnation, r.Seq}
		if seen[k] {
			t.Fatalf("%s/%d handed out twice", r.Incarnation, r.Seq)
		}
		seen[k] = true
		if r.Incarnation == old && (r.Seq <= 30 || r.Seq > 35) {
			t.Fatalf("old incarnation record %d: only 31-35 are left undelivered", r.Seq)
		}
	}
	if len(seen) != 15 {
		t.Fatalf("%d records, want 5 old + 10 new", len(seen))
	}
	// The loss is recorded once, not again at every open.
	o = reopen(t, dir, o, Options{SegmentBytes: 64 << 10})
	if st2 := o.Stats(); st2.Dropped[LostCorrupt] != 5 || st2.Incarnation != st.Incarnation {
		t.Fatalf("reopen after recovery: %+v", st2)
	}
	// The hub asking the old incarnation for the lost ones hears they are gone.
	missing, err := o.Resend(old, "reader1", 31)
	if err != nil || fmt.Sprint(missing) != "[[36 40]]" {
		t.Fatalf("resend of the old incarnation: missing %v, %v; want [[36 40]]", missing, err)
	}
}

// TestFlippedBit: one flipped bit in a committed record gives a new
// incarnation; the records after it are still delivered, the damaged one is
// counted lost, and its number is never reused in the old incarnation.
func TestFlippedBit(t *testing.T) {
	dir := t.TempDir()
	o := reopen(t, dir, nil, Options{SegmentBytes: 64 << 10})
	old := o.Incarnation()
	appendN(t, o, "reader1", Protected, 20, 50)
	o.Close()
	segs := segmentFiles(t, dir)
	offs := offsets(t, segs[0])
	f, _ := os.OpenFile(segs[0], os.O_RDWR, 0)
	var b [1]byte
	at := offs[len(offs)-10] + 12 // inside the 11th reading from the end
	f.ReadAt(b[:], at)
	b[0] ^= 0x10
	f.WriteAt(b[:], at)
	f.Close()

	o = reopen(t, dir, nil, Options{SegmentBytes: 64 << 10})
	st := o.Stats()
	if o.Incarnation() == old || st.IncarnationReason != IncSegmentCorrupt {
		t.Fatalf("flipped bit: incarnation %s (%s)", o.Incarnation(), st.IncarnationReason)
	}
	if st.Dropped[LostCorrupt] != 1 {
		t.Fatalf("lost counted %d, want 1", st.Dropped[LostCorrupt])
	}
	appendN(t, o, "reader1", Protected, 3, 50)
	got := drain(t, o)
	var oldSeqs []uint64
	for _, r := range got {
		if r.Incarnation == old {
			oldSeqs = append(oldSeqs, r.Seq)
		}
	}
	if len(oldSeqs) != 19 || oldSeqs[18] != 20 {
		t.Fatalf("old incarnation records %v: want all but the damaged one, through 20", oldSeqs)
	}
	if len(keys(got)) != 22 {
		t.Fatalf("%d distinct records, want 22", len(keys(got)))
	}
	missing, err := o.Resend(old, "reader1", 1)
	if err != nil || len(missing) != 1 || missing[0][0] != missing[0][1] {
		t.Fatalf("resend of the old incarnation: missing %v, %v (want the damaged one)", missing, err)
	}
}

// TestMissingSegment: a segment state.json lists that is gone is noticed.
func TestMissingSegment(t *testing.T) {
	dir := t.TempDir()
	o := reopen(t, dir, nil, Options{SegmentBytes: 8 << 10})
	old := o.Incarnation()
	appendN(t, o, "reader1", Protected, 100, 100)
	o.Close()
	segs := segmentFiles(t, dir)
	os.Remove(segs[len(segs)-1])
	o = reopen(t, dir, nil, Options{SegmentBytes: 8 << 10})
	if o.Incarnation() == old || o.Stats().IncarnationReason != IncSegmentMissing {
		t.Fatalf("missing segment: %+v", o.Stats())
	}
}

// TestUpgradeFromV1Outbox: the outbox of an edged from before incarnations
// (its state.json, acks and segments) is taken over: its undelivered v1
// readings are delivered as they were taken, its loss counters kept, and
// new readings start a new incarnation at 1.
func TestUpgradeFromV1Outbox(t *testing.T) {
	dir := t.TempDir()
	var seg []byte
	want := map[uint64]string{}
	for seq := uint64(1); seq <= 5; seq++ {
		js := fmt.Sprintf(`{"schema":"kordon.reading/1","device":"reader1","seq":%d,"payload":{}}`, seq)
		want[seq] = js
		body := []byte{byte(Protected), 7}
		body = append(body, "reader1"...)
		body = binary.BigEndian.AppendUint64(body, seq)
		body = binary.BigEndian.AppendUint64(body, 1764000000000)
		body = append(body, js...)
		seg = binary.LittleEndian.AppendUint32(seg, uint32(len(body)))
		seg = binary.LittleEndian.AppendUint32(seg, crc32.Checksum(body, castagnoli))
		seg = append(seg, body...)
	}
	seg = append(seg, make([]byte, 4096)...) // preallocated zeros
	os.WriteFile(filepath.Join(dir, "seg-00000000000000000001.log"), seg, 0o600)
	os.WriteFile(filepath.Join(dir, "state.json"), []byte(`{"seq":{"reader1":5},"acked":{"reader1":2},"dropped":{"full":3},"refused":1}`), 0o600)
	os.WriteFile(filepath.Join(dir, "acks"), []byte(`{"reader1":3}`), 0o600)

	o := reopen(t, dir, nil, Options{})
	st := o.Stats()
	if st.IncarnationReason != IncUpgrade || st.Dropped["full"] != 3 || st.Refused != 1 {
		t.Fatalf("after upgrade: %+v", st)
	}
	for _, seq := range []uint64{4, 5} {
		r := next(t, o)
		if r.Incarnation != "" || r.Seq != seq || string(r.JSON) != want[seq] {
			t.Fatalf("v1 reading %d came back as %q/%d %s", seq, r.Incarnation, r.Seq, r.JSON)
		}
		o.Ack(r.Incarnation, r.Device, r.Seq)
	}
	nothingReady(t, o)
	if seq, err := o.Append("reader1", Protected, func(seq uint64) ([]byte, error) { return body("reader1", seq, 1), nil }); err != nil || seq != 1 {
		t.Fatalf("first reading after the upgrade: seq %d, %v", seq, err)
	}
	inc := o.Incarnation()
	o = reopen(t, dir, o, Options{})
	if o.Incarnation() != inc || o.Stats().Records != 1 {
		t.Fatalf("restart after the upgrade: %+v", o.Stats())
	}
}

// TestKilledWhileCreatingSegment: a segment file that is still all zeros
// (kill -9 between its creation and its first commit slot) held nothing: it
// is removed, and neither a loss nor a new incarnation follows.
func TestKilledWhileCreatingSegment(t *testing.T) {
	dir := t.TempDir()
	o := reopen(t, dir, nil, Options{})
	inc := o.Incarnation()
	appendN(t, o, "reader1", Protected, 3, 10)
	o.Close()
	os.WriteFile(filepath.Join(dir, "seg-00000000000000000009.log"), make([]byte, 64<<10), 0o600)
	o = reopen(t, dir, nil, Options{})
	if st := o.Stats(); o.Incarnation() != inc || st.Dropped[LostCorrupt] != 0 || st.Records != 3 {
		t.Fatalf("after a half-created segment: %+v", st)
	}
}
