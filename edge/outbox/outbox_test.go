package outbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func body(device string, seq uint64, pad int) []byte {
	return fmt.Appendf(nil, `{"device":%q,"seq":%d,"pad":%q}`, device, seq, strings.Repeat("x", pad))
}

func appendN(t testing.TB, o *Outbox, device string, class Class, n, pad int) {
	t.Helper()
	for range n {
		if _, err := o.Append(device, class, func(seq uint64) ([]byte, error) { return body(device, seq, pad), nil }); err != nil {
			t.Fatalf("append %s: %v", device, err)
		}
	}
}

func next(t *testing.T, o *Outbox) Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := o.Next(ctx)
	if err != nil {
		t.Fatalf("next: %v", err)
	}
	return r
}

func nothingReady(t *testing.T, o *Outbox) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Next checks what is ready before it looks at ctx
	if r, err := o.Next(ctx); err == nil {
		t.Fatalf("expected nothing ready, got %s/%d", r.Device, r.Seq)
	}
}

func TestReopenKeepsSequenceAndUnacked(t *testing.T) {
	dir := t.TempDir()
	o, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, o, "reader1", Protected, 5, 10)
	for want := uint64(1); want <= 3; want++ {
		r := next(t, o)
		if r.Device != "reader1" || r.Seq != want {
			t.Fatalf("got %s/%d want reader1/%d", r.Device, r.Seq, want)
		}
		o.Ack(r.Incarnation, r.Device, r.Seq)
	}
	o.Close()

	o, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if got := o.LastSeq("reader1"); got != 5 {
		t.Fatalf("LastSeq after reopen = %d, want 5", got)
	}
	if r := next(t, o); r.Seq != 4 {
		t.Fatalf("first record after reopen: seq %d, want 4 (1-3 were acked)", r.Seq)
	}
	seq, _ := o.Append("reader1", Protected, func(seq uint64) ([]byte, error) { return body("reader1", seq, 0), nil })
	if seq != 6 {
		t.Fatalf("next seq after reopen = %d, want 6", seq)
	}
	if st := o.Stats(); st.Records != 3 {
		t.Fatalf("undelivered records = %d, want 3", st.Records)
	}
}

// dataEnd is the offset where the last segment's records end.
func dataEnd(t *testing.T, dir string) (string, int64) {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	name := segs[len(segs)-1]
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	sc, err := scanFile(f, fi.Size(), false)
	if err != nil {
		t.Fatal(err)
	}
	return name, sc.end
}

func TestTornTailIsCut(t *testing.T) {
	dir := t.TempDir()
	o, _ := Open(dir, Options{SegmentBytes: 64 << 10})
	inc := o.Incarnation()
	appendN(t, o, "reader1", Protected, 3, 10)
	o.Close()
	// A record header promising 200 bytes followed by only a few: a power
	// cut mid-write, after the last commit.
	name, end := dataEnd(t, dir)
	f, _ := os.OpenFile(name, os.O_RDWR, 0)
	f.WriteAt([]byte{200, 0, 0, recMagic, 1, 2, 3, 4, 'x', 'y'}, end)
	f.Close()

	o, err := Open(dir, Options{SegmentBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if o.Stats().TornBytes == 0 {
		t.Fatal("torn tail not reported")
	}
	if o.Incarnation() != inc {
		t.Fatal("a torn tail past the last commit started a new incarnation")
	}
	appendN(t, o, "reader1", Protected, 1, 10)
	o.Close()
	o, _ = Open(dir, Options{SegmentBytes: 64 << 10})
	defer o.Close()
	var seqs []uint64
	for range 4 {
		seqs = append(seqs, next(t, o).Seq)
	}
	if fmt.Sprint(seqs) != "[1 2 3 4]" {
		t.Fatalf("records after torn-tail recovery: %v", seqs)
	}
	nothingReady(t, o)
	if st := o.Stats(); st.Dropped[LostCorrupt] != 0 || o.Incarnation() != inc {
		t.Fatalf("torn tail counted as loss or new incarnation: %+v", st)
	}
}

func TestFullPolicyDropsRoutineOldestFirstNeverProtected(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 8 << 10, MaxBytes: 32 << 10}
	o, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	// 10 document reads, then far more telemetry than fits.
	appendN(t, o, "reader1", Protected, 10, 200)
	for range 400 {
		_, err := o.Append("thermo1", Routine, func(seq uint64) ([]byte, error) { return body("thermo1", seq, 200), nil })
		if err != nil {
			t.Fatalf("routine append must make room by dropping older routine records: %v", err)
		}
	}
	st := o.Stats()
	if st.DiskBytes > opts.MaxBytes {
		t.Fatalf("disk bytes %d over the bound %d", st.DiskBytes, opts.MaxBytes)
	}
	if st.Dropped["full"] == 0 {
		t.Fatal("no drops counted although telemetry overflowed the bound")
	}
	// Every document read is still there, in order; telemetry that is left
	// is the newest, in order, and ends with the last one taken.
	var docs []uint64
	var thermo []uint64
	for {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		r, err := o.Next(ctx)
		if err != nil {
			break
		}
		if r.Device == "reader1" {
			docs = append(docs, r.Seq)
		} else {
			thermo = append(thermo, r.Seq)
		}
	}
	if fmt.Sprint(docs) != "[1 2 3 4 5 6 7 8 9 10]" {
		t.Fatalf("protected records after overflow: %v", docs)
	}
	if len(thermo) == 0 || thermo[len(thermo)-1] != 400 {
		t.Fatalf("newest telemetry missing: %v", thermo)
	}
	for i := 1; i < len(thermo); i++ {
		if thermo[i] <= thermo[i-1] {
			t.Fatalf("telemetry out of order: %v", thermo)
		}
	}
	if int64(400-len(thermo)) != st.Dropped["full"] {
		t.Fatalf("dropped counter %d, but %d telemetry records are gone", st.Dropped["full"], 400-len(thermo))
	}

	// Now protected readings alone: the bound is reached and the outbox refuses loudly.
	var refused error
	for range 400 {
		if _, err := o.Append("reader1", Protected, func(seq uint64) ([]byte, error) { return body("reader1", seq, 200), nil }); err != nil {
			refused = err
			break
		}
	}
	if !errors.Is(refused, ErrFull) {
		t.Fatalf("protected overflow: err %v, want ErrFull", refused)
	}
	if st := o.Stats(); st.Refused != 1 || !st.Full {
		t.Fatalf("refusal not shown: refused=%d full=%v", st.Refused, st.Full)
	}
	// Counters survive a restart.
	o.Close()
	o2, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer o2.Close()
	if st2 := o2.Stats(); st2.Dropped["full"] < st.Dropped["full"] || st2.Refused != 1 {
		t.Fatalf("loss counters lost on restart: %+v", st2)
	}
}

func TestResendReportsMissing(t *testing.T) {
	o, _ := Open(t.TempDir(), Options{SegmentBytes: 8 << 10, MaxBytes: 1 << 20, RetainBytes: 1})
	defer o.Close()
	appendN(t, o, "thermo1", Routine, 300, 200)
	// Deliver all, so delivered segments are deleted beyond the retention budget.
	for range 300 {
		r := next(t, o)
		o.Ack(r.Incarnation, r.Device, r.Seq)
	}
	missing, err := o.Resend("", "thermo1", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 1 || missing[0][0] != 1 || missing[0][1] < 1 || missing[0][1] >= 300 {
		t.Fatalf("missing = %v, want one range from 1", missing)
	}
	first := missing[0][1] + 1
	if r := next(t, o); r.Seq != first {
		t.Fatalf("resend starts at %d, want %d (first retained)", r.Seq, first)
	}
	if m, _ := o.Resend("", "thermo1", 301); m != nil {
		t.Fatalf("resend past the end: %v", m)
	}
}

func TestDevicesTakeTurns(t *testing.T) {
	o, _ := Open(t.TempDir(), Options{})
	defer o.Close()
	appendN(t, o, "thermo1", Routine, 50, 10)
	appendN(t, o, "reader1", Protected, 1, 10)
	seen := false
	for range 2 {
		if next(t, o).Device == "reader1" {
			seen = true
		}
	}
	if !seen {
		t.Fatal("a document read waited behind another device's backlog")
	}
}

func TestGroupCommit(t *testing.T) {
	o, _ := Open(t.TempDir(), Options{})
	defer o.Close()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			appendN(t, o, fmt.Sprintf("dev%d", w), Routine, 50, 100)
		}()
	}
	wg.Wait()
	st := o.Stats()
	if st.Appended != 400 {
		t.Fatalf("appended %d", st.Appended)
	}
	t.Logf("400 appends from 8 writers took %d fdatasyncs", st.Syncs)
	if st.Syncs > st.Appended {
		t.Fatalf("more syncs (%d) than appends", st.Syncs)
	}
}

// TestKill9 appends in a child process that prints each sequence number
// once Append has returned, kills it with SIGKILL, and checks that every
// printed reading is in the reopened outbox.
func TestKill9(t *testing.T) {
	if dir := os.Getenv("OUTBOX_CHILD_DIR"); dir != "" {
		o, err := Open(dir, Options{SegmentBytes: 64 << 10})
		if err != nil {
			fmt.Println("open:", err)
			os.Exit(1)
		}
		for {
			seq, err := o.Append("reader1", Protected, func(seq uint64) ([]byte, error) { return body("reader1", seq, 300), nil })
			if err != nil {
				fmt.Println("append:", err)
				os.Exit(1)
			}
			fmt.Println(seq)
		}
	}
	dir := t.TempDir()
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$")
		cmd.Env = append(os.Environ(), "OUTBOX_CHILD_DIR="+dir)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var last uint64
		for sc.Scan() {
			n, err := strconv.ParseUint(sc.Text(), 10, 64)
			if err != nil {
				t.Fatalf("child: %s", sc.Text())
			}
			last = n
			if n >= uint64(200*(round+1)) {
				cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
		cmd.Wait()
		o, err := Open(dir, Options{SegmentBytes: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		if got := o.LastSeq("reader1"); got < last {
			t.Fatalf("round %d: child reported seq %d taken, reopened outbox has %d", round, last, got)
		}
		for want := uint64(1); want <= last; want++ {
			r := next(t, o)
			if r.Seq != want {
				t.Fatalf("round %d: record %d missing (got %d)", round, want, r.Seq)
			}
		}
		o.Close()
	}
}

// TestMarkHistorical: a late reading goes out with "historical":true first,
// built in the reader's room for a routine (split) and a literal record
// alike; the record on disk stays as taken, and a marked envelope is not
// marked again.
func TestMarkHistorical(t *testing.T) {
	o, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	o.Append("thermo1", Routine, func(seq uint64) ([]byte, error) { return routineEnvelope(seq, 1), nil })
	appendN(t, o, "reader1", Protected, 1, 10)
	o.Append("reader1", Protected, func(uint64) ([]byte, error) { return []byte(`{"historical":true,"seq":2}`), nil })
	for range 3 {
		r := next(t, o)
		want := string(r.JSON)
		if !strings.Contains(want, `"historical":true`) {
			want = `{"historical":true,` + want[1:]
		}
		r.MarkHistorical()
		if string(r.JSON) != want {
			t.Fatalf("%s %d marked\n%s\nwant\n%s", r.Device, r.Seq, r.JSON, want)
		}
	}
	o.Rewind()
	for range 3 {
		if r := next(t, o); strings.Contains(string(r.JSON), `"historical":true`) && r.Seq != 2 {
			t.Fatalf("%s %d stored marked: %s", r.Device, r.Seq, r.JSON)
		}
	}
	r := Record{JSON: []byte(`{"a":1}`)} // not from the reader: no room
	r.MarkHistorical()
	if string(r.JSON) != `{"historical":true,"a":1}` {
		t.Fatalf("marked %s", r.JSON)
	}
}
