package groupcommit

import (
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	_ "modernc.org/sqlite"
)

type rec struct {
	mu        sync.Mutex
	committed [][]int
	aborted   int
}

func (r *rec) Apply(tx *sql.Tx, n int) error {
	if _, err := tx.Exec(`INSERT INTO t(n) VALUES (?)`, n); err != nil {
		return err
	}
	if n < 0 {
		return errors.New("refused") // after the insert: the savepoint must undo it
	}
	return nil
}
func (r *rec) ApplyAll(tx *sql.Tx, jobs []int) error {
	for _, n := range jobs {
		if err := r.Apply(tx, n); err != nil {
			return err
		}
	}
	return nil
}

func (r *rec) Committed(jobs []int) {
	r.mu.Lock()
	r.committed = append(r.committed, append([]int(nil), jobs...))
	r.mu.Unlock()
}
func (r *rec) Aborted([]int, error) { r.mu.Lock(); r.aborted++; r.mu.Unlock() }

func open(t *testing.T) *sql.DB {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "t.db")+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE t(n INTEGER)`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestJobsShareTransactionsFailuresStayAlone: 200 concurrent callers; a
// failing job is undone without its batch-mates; every caller is released
// only after its rows are committed.
func TestJobsShareTransactionsFailuresStayAlone(t *testing.T) {
	db := open(t)
	r := &rec{}
	c := New[int](db, r, Options[int]{MaxBatch: 64})
	defer c.Close()
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := i + 1
			if i%50 == 0 {
				n = -n
			}
			errs[i] = c.Do(n)
			if errs[i] == nil {
				var got int
				db.QueryRow(`SELECT COUNT(*) FROM t WHERE n = ?`, n).Scan(&got)
				if got != 1 {
					t.Errorf("job %d released before its row was visible", n)
				}
			}
		}()
	}
	wg.Wait()
	var stored, failed int
	for i, err := range errs {
		if i%50 == 0 {
			if err == nil {
				t.Errorf("job %d: no error", i)
			}
			failed++
		} else if err != nil {
			t.Errorf("job %d: %v", i, err)
		}
	}
	db.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&stored)
	if stored != 200-failed {
		t.Fatalf("%d rows, want %d", stored, 200-failed)
	}
	var jobs int
	for _, b := range r.committed {
		jobs += len(b)
		if len(b) > 64 {
			t.Errorf("batch of %d over MaxBatch", len(b))
		}
	}
	if jobs != 200-failed {
		t.Fatalf("Committed saw %d jobs, want %d", jobs, 200-failed)
	}
	t.Logf("%d jobs in %d transactions", jobs, len(r.committed))
}

// TestFailedCommitFailsEveryCaller: a batch whose transaction cannot
// commit stores nothing, and every caller hears so.
func TestFailedCommitFailsEveryCaller(t *testing.T) {
	db := open(t)
	// A deferred foreign key check fails only at COMMIT.
	db.Exec(`PRAGMA foreign_keys = ON`)
	if _, err := db.Exec(`CREATE TABLE p(id INTEGER PRIMARY KEY); CREATE TABLE c(pid INTEGER REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED);
		CREATE TRIGGER bad AFTER INSERT ON t WHEN NEW.n = 7 BEGIN INSERT INTO c(pid) VALUES (99); END`); err != nil {
		t.Fatal(err)
	}
	r := &rec{}
	c := New[int](db, r, Options[int]{})
	defer c.Close()
	if err := c.Do(7); err == nil {
		t.Fatal("a failed commit reported success")
	}
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n)
	if n != 0 || r.aborted != 1 || len(r.committed) != 0 {
		t.Fatalf("rows %d aborted %d committed %v", n, r.aborted, r.committed)
	}
	if err := c.Do(8); err != nil {
		t.Fatalf("after a failed batch: %v", err)
	}
}

// lingering is rec whose jobs of 100 and above may wait an hour for
// company, and whose others may not wait at all.
type lingering struct{ rec }

func (l *lingering) Linger(n int) time.Duration {
	if n >= 100 {
		return time.Hour
	}
	return 0
}

// TestLingerWaitsForCompanyUntilAJobThatMayNot: jobs that may linger are
// held back for more; the first job that may not wait ends the wait, and
// all of them share its transaction.
func TestLingerWaitsForCompanyUntilAJobThatMayNot(t *testing.T) {
	db := open(t)
	h := &lingering{}
	c := New[int](db, h, Options[int]{Linger: h.Linger})
	defer c.Close()
	var wg sync.WaitGroup
	for _, n := range []int{100, 101, 5} {
		submitCounted(t, c, &wg, n)
	}
	wg.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.committed) != 1 || len(h.committed[0]) != 3 {
		t.Fatalf("batches %v, want one of the three jobs", h.committed)
	}
}

// stalled writes nothing until release is closed, telling entered as each
// batch begins.
type stalled struct {
	rec
	entered chan struct{}
	release chan struct{}
}

func (s *stalled) ApplyAll(tx *sql.Tx, jobs []int) error {
	s.entered <- struct{}{}
	<-s.release
	return s.rec.ApplyAll(tx, jobs)
}

// TestSubmitWaitsOnceABatchIsQueued: while a batch is written, one more
// batch's jobs queue; the caller after them waits in Submit (its
// connection is not read meanwhile), so the jobs the committer holds stay
// at about two batches, however large MaxBatch is.
func TestSubmitWaitsOnceABatchIsQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const maxBatch = 8
		db := open(t)
		s := &stalled{entered: make(chan struct{}, 100), release: make(chan struct{})}
		c := New[int](db, s, Options[int]{MaxBatch: maxBatch})
		var wg sync.WaitGroup
		submit := func(n int) { submitCounted(t, c, &wg, n) }
		submit(0)
		<-s.entered // the first batch, of job 0, is being written
		var queued atomic.Int64
		go func() {
			for n := 1; n <= 5*maxBatch; n++ {
				submit(n)
				queued.Add(1)
			}
		}()
		synctest.Wait()
		if got := queued.Load(); got != maxBatch {
			t.Errorf("%d jobs queued behind the batch being written, want %d (one batch)", got, maxBatch)
		}
		close(s.release)
		synctest.Wait()
		wg.Wait()
		c.Close()
		n := 0
		for _, b := range s.committed {
			n += len(b)
		}
		if n != 5*maxBatch+1 {
			t.Errorf("%d jobs committed, want %d", n, 5*maxBatch+1)
		}
	})
}

// submitCounted submits job n, counted in wg until its commit reports.
func submitCounted(t *testing.T, c *Committer[int], wg *sync.WaitGroup, n int) {
	t.Helper()
	wg.Add(1)
	if err := c.Submit(n, func(err error) {
		if err != nil {
			t.Error(err)
		}
		wg.Done()
	}); err != nil {
		wg.Done()
		t.Error(err)
	}
}

// TestBetweenRunsBetweenTwoBatches: Between runs after a batch committed,
// with the connection free (it can write), and the next batch waits for it.
func TestBetweenRunsBetweenTwoBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := open(t)
		r := &rec{}
		gate := make(chan struct{})
		var calls atomic.Int64
		var wrote atomic.Bool
		between := func() {
			if calls.Add(1) == 1 {
				if _, err := db.Exec(`INSERT INTO t(n) VALUES (100)`); err == nil {
					wrote.Store(true)
				}
				<-gate
			}
		}
		c := New[int](db, r, Options[int]{MaxBatch: 8, Between: between})
		var wg sync.WaitGroup
		submitCounted(t, c, &wg, 1)
		synctest.Wait()
		submitCounted(t, c, &wg, 2)
		synctest.Wait()
		r.mu.Lock()
		batches := len(r.committed)
		r.mu.Unlock()
		if calls.Load() != 1 || batches != 1 {
			t.Errorf("while Between runs: %d calls, %d batches committed; want 1 call after the first batch, and the second batch waiting", calls.Load(), batches)
		}
		if !wrote.Load() {
			t.Error("Between could not use the connection: a transaction of the committer's was still open")
		}
		close(gate)
		wg.Wait()
		c.Close()
		var n int
		db.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n)
		if n != 3 || calls.Load() != 2 {
			t.Errorf("%d rows and %d calls of Between after two batches, want 3 rows and 2 calls", n, calls.Load())
		}
	})
}
