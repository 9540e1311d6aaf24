package groupcommit

import (
	"database/sql"
	"errors"
	"sync"
	"testing"
)

// durableRec is rec that also hears when each batch is durable, and
// records the synchronous setting its transactions ran under.
type durableRec struct {
	rec
	durable [][]int
	failed  []error
	sync    []int    // PRAGMA synchronous inside each ApplyAll
	commits chan int // told each batch's first job as it is committed
}

func (d *durableRec) Committed(jobs []int) {
	d.rec.Committed(jobs)
	if d.commits != nil {
		d.commits <- jobs[0]
	}
}

func (d *durableRec) ApplyAll(tx *sql.Tx, jobs []int) error {
	var s int
	if err := tx.QueryRow(`PRAGMA synchronous`).Scan(&s); err != nil {
		return err
	}
	d.mu.Lock()
	d.sync = append(d.sync, s)
	d.mu.Unlock()
	return d.rec.ApplyAll(tx, jobs)
}

func (d *durableRec) Durable(jobs []int, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.durable = append(d.durable, append([]int(nil), jobs...))
	d.failed = append(d.failed, err)
}

// blockingSync is an Options.Sync that waits for its test: entered is told
// as each sync begins, and each returns what the test sends on result.
type blockingSync struct {
	entered chan struct{}
	result  chan error
}

func (b *blockingSync) sync() error {
	b.entered <- struct{}{}
	return <-b.result
}

// TestCallersWaitForTheSyncWhileTheNextBatchIsWritten: with Sync, a
// caller is released only after a Sync that began after its commit
// returned; meanwhile the committer writes the next batch (without an
// fsync of its own: synchronous NORMAL), and a batch's Durable comes
// before its callers are released.
func TestCallersWaitForTheSyncWhileTheNextBatchIsWritten(t *testing.T) {
	db := open(t)
	h := &durableRec{commits: make(chan int, 2)}
	s := &blockingSync{entered: make(chan struct{}), result: make(chan error)}
	c := New[int](db, h, Options[int]{Sync: s.sync})
	defer c.Close()

	first := make(chan error, 1)
	go func() { first <- c.Do(1) }()
	<-s.entered // job 1 is committed, its sync has begun
	<-h.commits
	select {
	case err := <-first:
		t.Fatalf("job 1 released before its sync returned: %v", err)
	default:
	}
	var stored int
	if err := db.QueryRow(`SELECT COUNT(*) FROM t WHERE n = 1`).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("job 1 not committed while its sync runs: %d, %v", stored, err)
	}

	second := make(chan error, 1)
	go func() { second <- c.Do(2) }()
	// Job 2 is written while job 1's sync is still running: it is
	// committed before that sync returns.
	if got := <-h.commits; got != 2 {
		t.Fatalf("committed job %d, want 2", got)
	}
	select {
	case err := <-second:
		t.Fatalf("job 2 released before any sync after its commit: %v", err)
	default:
	}
	s.result <- nil // job 1's sync returns
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-second:
		t.Fatalf("job 2 released by the sync that began before its commit: %v", err)
	default:
	}
	<-s.entered
	s.result <- nil
	if err := <-second; err != nil {
		t.Fatal(err)
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.durable) != 2 || h.durable[0][0] != 1 || h.durable[1][0] != 2 || h.failed[0] != nil || h.failed[1] != nil {
		t.Errorf("Durable heard %v (errors %v), want [[1] [2]] without errors", h.durable, h.failed)
	}
	for i, v := range h.sync {
		if v != 1 {
			t.Errorf("batch %d written with synchronous=%d, want 1 (NORMAL)", i, v)
		}
	}
	// Every other user of the connection commits with its own fsync.
	var after int
	if err := db.QueryRow(`PRAGMA synchronous`).Scan(&after); err != nil || after != 2 {
		t.Errorf("synchronous after the batches: %d (%v), want 2 (FULL)", after, err)
	}
}

// TestAFailedSyncStopsTheCommitter: the callers of a batch whose Sync
// failed get ErrNotDurable (Durable hears it too), and so does every
// later caller, without its job being written.
func TestAFailedSyncStopsTheCommitter(t *testing.T) {
	db := open(t)
	h := &durableRec{}
	var mu sync.Mutex
	syncs := 0
	diskGone := errors.New("input/output error")
	c := New[int](db, h, Options[int]{Sync: func() error {
		mu.Lock()
		defer mu.Unlock()
		syncs++
		return diskGone
	}})
	defer c.Close()
	if err := c.Do(1); !errors.Is(err, ErrNotDurable) || !errors.Is(err, diskGone) {
		t.Fatalf("job whose sync failed: %v, want ErrNotDurable wrapping the sync's error", err)
	}
	if err := c.Do(2); !errors.Is(err, ErrNotDurable) {
		t.Fatalf("job after a failed sync: %v, want ErrNotDurable", err)
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM t WHERE n = 2`).Scan(&n); err != nil || n != 0 {
		t.Errorf("job 2 written after the failed sync: %d rows (%v)", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if syncs != 1 {
		t.Errorf("%d syncs, want 1: nothing is synced after one failed", syncs)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.failed) != 1 || !errors.Is(h.failed[0], ErrNotDurable) {
		t.Errorf("Durable heard %v, want one ErrNotDurable", h.failed)
	}
	if h.aborted != 1 {
		t.Errorf("Aborted heard %d batches, want 1 (job 2's)", h.aborted)
	}
}
