package outbox

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// smallDisk mounts a tmpfs of size bytes as a fresh state dir. It needs
// root (the tests run as root in CI); otherwise the test is skipped.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a %s tmpfs as the state dir (needs root): %v", size, err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
	return dir
}

func usedBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	return int64(fs.Blocks-fs.Bfree) * fs.Bsize
}

// fill appends protected readings until n have failed, and checks that each
// failure is counted under disk_full. It returns how many were taken.
func fill(t *testing.T, o *Outbox, n int) int {
	t.Helper()
	before := o.Stats().Dropped[LostDiskFull]
	ok, failed := 0, 0
	for failed < n {
		if ok > 100000 {
			t.Fatal("the disk never filled")
		}
		_, err := o.Append("reader1", Protected, func(seq uint64) ([]byte, error) { return body("reader1", seq, 900), nil })
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrDiskFull):
			failed++
		default:
			t.Fatalf("append: %v", err)
		}
	}
	st := o.Stats()
	if got := st.Dropped[LostDiskFull] - before; got != int64(n) {
		t.Fatalf("%d appends failed for lack of space, %d counted", n, got)
	}
	if !st.DiskFull || !st.Full {
		t.Fatalf("stats do not say the disk is full: %+v", st)
	}
	return ok
}

// deliverAll acknowledges every readable record, as the hub would.
func deliverAll(t *testing.T, o *Outbox) int {
	t.Helper()
	n := 0
	for _, r := range drain(t, o) {
		o.Ack(r.Incarnation, r.Device, r.Seq)
		n++
	}
	return n
}

// recovers checks that, once the backlog is delivered, the outbox gives the
// space back and takes readings again, without a restart.
func recovers(t *testing.T, dir string, o *Outbox, taken int) {
	t.Helper()
	if got := deliverAll(t, o); got != taken {
		t.Fatalf("delivered %d of %d taken", got, taken)
	}
	if used := usedBytes(t, dir); used > 1<<20 {
		t.Fatalf("%d bytes still used on the disk after delivery (%+v)", used, o.Stats())
	}
	if _, err := o.Append("reader1", Protected, func(seq uint64) ([]byte, error) { return body("reader1", seq, 900), nil }); err != nil {
		t.Fatalf("no recovery once space returned: %v", err)
	}
}

// TestDiskFullDefaultOutbox: the default outbox (256 MiB bound, 4 MiB
// segments) on a 2 MiB disk takes what fits, counts what does not, and
// recovers when the backlog is delivered.
func TestDiskFullDefaultOutbox(t *testing.T) {
	dir := smallDisk(t, "2m")
	o := reopen(t, dir, nil, Options{})
	taken := fill(t, o, 5)
	if taken == 0 {
		t.Fatal("a 2 MiB disk took no reading at all")
	}
	t.Logf("took %d readings on a 2 MiB disk", taken)
	recovers(t, dir, o, taken)
}

// TestDiskFullBoundAboveFreeSpace: max_bytes larger than the filesystem.
func TestDiskFullBoundAboveFreeSpace(t *testing.T) {
	dir := smallDisk(t, "2m")
	o := reopen(t, dir, nil, Options{MaxBytes: 64 << 20, SegmentBytes: 256 << 10})
	taken := fill(t, o, 5)
	recovers(t, dir, o, taken)
	// The count survives a restart.
	o = reopen(t, dir, o, Options{MaxBytes: 64 << 20, SegmentBytes: 256 << 10})
	if got := o.Stats().Dropped[LostDiskFull]; got != 5 {
		t.Fatalf("disk_full after restart %d, want 5", got)
	}
}

// TestDiskFilledByAnotherFile: something else fills the disk; readings are
// counted as they fail, and taken again as soon as the file is gone.
func TestDiskFilledByAnotherFile(t *testing.T) {
	dir := smallDisk(t, "2m")
	o := reopen(t, dir, nil, Options{SegmentBytes: 256 << 10})
	appendN(t, o, "reader1", Protected, 10, 900)
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := f.Write(make([]byte, 4096)); err != nil {
			break
		}
	}
	f.Close()
	taken := 10 + fill(t, o, 3)
	os.Remove(filler)
	if _, err := o.Append("reader1", Protected, func(seq uint64) ([]byte, error) { return body("reader1", seq, 900), nil }); err != nil {
		t.Fatalf("no recovery once the file was removed: %v", err)
	}
	recovers(t, dir, o, taken+1)
}
