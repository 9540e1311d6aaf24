// Package groupcommit writes the jobs of many callers in one SQLite
// transaction: one commit (one fsync) for a batch instead of one per job.
// Each caller waits until the transaction holding its job has committed,
// so an acknowledgement given after Do returns is an acknowledgement of
// data on disk.
//
// With Options.Sync the fsync leaves the committer: each transaction is
// committed without one (synchronous=NORMAL for that transaction), and a
// second goroutine syncs the WAL and releases the callers while the next
// batch is written. Callers are still released only once their data is on
// disk, in commit order.
//
// database/sql and SQLite give transactions, not batching of concurrent
// callers, so this small loop is written here.
package groupcommit

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Handler writes jobs and learns what became of a batch. Its methods are
// called from the committer's one goroutine, in batch order.
type Handler[J any] interface {
	// ApplyAll writes every job of a batch at once (the fast path: a few
	// statements for the whole batch). On an error the transaction is
	// rolled back and the batch is written again job by job with Apply, so
	// that a failing job is undone alone.
	ApplyAll(tx *sql.Tx, jobs []J) error
	// Apply writes one job inside the batch's transaction, under a
	// savepoint of its own: an error undoes this job alone, and Do returns
	// that error to the job's caller.
	Apply(tx *sql.Tx, job J) error
	// Committed is called after the transaction committed, with the jobs
	// it holds, before their callers are released and before the next
	// batch is written.
	Committed(jobs []J)
	// Aborted is called when the transaction as a whole failed: none of
	// the jobs is stored and each caller gets err.
	Aborted(jobs []J, err error)
}

// DurableHandler is a Handler told, besides, when a committed batch is on
// disk: what it does for the world outside the database (publishing,
// counting) belongs there, not in Committed.
type DurableHandler[J any] interface {
	Handler[J]
	// Durable is called on the releasing goroutine, in batch order, after
	// Committed and before the batch's callers are released: once the
	// Sync after its COMMIT returned (at once without Options.Sync). A
	// non-nil err is that Sync's failure: the batch is committed but not
	// known to be on disk, and its callers get err.
	Durable(jobs []J, err error)
}

// ErrNotDurable wraps the failure of Options.Sync. After it the committer
// writes nothing more: an fsync that failed once may report success for
// data it lost (Linux drops the dirty pages), so only a restart, which
// reads what is on disk, is trusted again.
var ErrNotDurable = errors.New("groupcommit: the database's log could not be synced")

// Options bound a batch.
type Options[J any] struct {
	// MaxBatch is the most jobs one transaction holds (default 256).
	MaxBatch int
	// MaxWait is how long the first job of a batch may wait for more before
	// the transaction starts (default 0: a batch is whatever queued while
	// the previous one committed, so a lone job is not delayed).
	MaxWait time.Duration
	// Observe, when set, is told the timings of each batch once its
	// callers were released (on the releasing goroutine: keep it short).
	Observe func(BatchTimings)
	// Sync, when set, makes committed transactions durable: the
	// committer's transactions commit with synchronous=NORMAL (the WAL
	// written, not synced), and Sync (an fsync of the WAL file) runs on
	// the releasing goroutine while the next batch is written; one Sync
	// covers every batch committed before it began. Without it each
	// COMMIT syncs (the connection's own synchronous setting).
	Sync func() error
	// Linger, when set, lets a batch wait longer for more jobs: until the
	// least Linger of the jobs it holds (or MaxWait, if longer) after it
	// began, so that jobs which can wait share fewer, larger transactions
	// (fewer syncs, fewer pages written). A job whose Linger is 0 ends the
	// wait at once. It is called on the committer's goroutine as each job
	// joins a batch.
	Linger func(job J) time.Duration
	// Between, when set, is called on the committer's goroutine after each
	// batch was handed to the releasing goroutine and before the next one
	// begins: no transaction of the committer's is open, and no batch is
	// written until it returns. It is for the little upkeep that must fall
	// between two transactions (letting the WAL start over: hub/store.go).
	Between func()
}

// BatchTimings is where one batch's time went.
type BatchTimings struct {
	Start    time.Time
	Jobs     int
	Queued   time.Duration // its oldest job's wait from Submit to the batch's start
	Fill     time.Duration // gathering the batch (MaxWait)
	Apply    time.Duration // the handler's writes, before COMMIT
	Commit   time.Duration // COMMIT: the WAL's writes, and its fsync without Options.Sync
	Sync     time.Duration // Options.Sync's fsync, from the COMMIT's end
	Notify   time.Duration // Durable and the callers' done
	SlowPath bool
}

// ErrClosed is returned by Do after Close.
var ErrClosed = errors.New("groupcommit: closed")

// Committer batches jobs into transactions.
type Committer[J any] struct {
	db   *sql.DB
	h    Handler[J]
	opt  Options[J]
	in   chan *pending[J]
	quit chan struct{}
	done chan struct{}
	once sync.Once
	// written carries each batch, in order, to the releasing goroutine.
	// Unbuffered: the committer writes at most one batch ahead of the one
	// being synced, so the jobs held stay at about three batches.
	written  chan *written[J]
	released chan struct{}
	// notDurable is set once a Sync failed; every later batch fails.
	notDurable atomic.Pointer[error]
}

// written is a batch the committer is done with: committed (err nil) or
// failed, on its way to its callers.
type written[J any] struct {
	batch     []*pending[J]
	applied   []J
	err       error
	t         BatchTimings
	committed time.Time
}

type pending[J any] struct {
	job    J
	queued time.Time
	err    error
	notify func(error)
}

// New starts a committer on db (which should allow one connection: SQLite
// has one writer).
func New[J any](db *sql.DB, h Handler[J], opt Options[J]) *Committer[J] {
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 256
	}
	// The queue holds one batch: the next, gathered while one is written.
	// A caller beyond it waits in Submit, and what it would have queued
	// waits unread (in a socket) instead of parsed in memory; four batches
	// queued held 20,000 parsed readings at MaxBatch 4096.
	c := &Committer[J]{db: db, h: h, opt: opt, in: make(chan *pending[J], opt.MaxBatch), quit: make(chan struct{}), done: make(chan struct{}),
		written: make(chan *written[J]), released: make(chan struct{})}
	go c.release()
	go c.run()
	return c
}

// Do queues a job and waits until its transaction committed (nil), or the
// job or its transaction failed.
func (c *Committer[J]) Do(job J) error {
	done := make(chan error, 1)
	if err := c.Submit(job, func(err error) { done <- err }); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-c.done:
		// Close drains what was queued; a job caught after that is not stored.
		select {
		case err := <-done:
			return err
		default:
			return ErrClosed
		}
	}
}

// Submit queues a job without waiting for it (it waits only while the
// queue is full). done is called on the releasing goroutine, in commit
// order, once the job's transaction committed and is durable (nil), or
// failed; it must not block.
func (c *Committer[J]) Submit(job J, done func(error)) error {
	select {
	case <-c.quit:
		return ErrClosed
	default:
	}
	select {
	case c.in <- &pending[J]{job: job, notify: done, queued: time.Now()}:
		return nil
	case <-c.quit:
		return ErrClosed
	}
}

// Close commits what is queued and stops.
func (c *Committer[J]) Close() {
	c.once.Do(func() { close(c.quit) })
	<-c.done
}

func (c *Committer[J]) run() {
	defer func() {
		close(c.written)
		<-c.released
		close(c.done)
	}()
	for {
		batch := make([]*pending[J], 0, c.opt.MaxBatch) // the releaser holds the last one
		select {
		case p := <-c.in:
			batch = append(batch, p)
		case <-c.quit:
			c.drain()
			return
		}
		start := time.Now()
		batch = c.fill(batch, start, true)
		c.commit(batch, start)
		if c.opt.Between != nil {
			c.opt.Between()
		}
	}
}

// fill adds whatever is queued, waiting up to MaxWait (or the jobs'
// Linger) after start for more.
func (c *Committer[J]) fill(batch []*pending[J], start time.Time, linger bool) []*pending[J] {
	lg := c.opt.Linger
	linger = linger && lg != nil
	wait := time.Duration(-1) // the least Linger of the batch's jobs so far
	note := func(p *pending[J]) {
		if linger {
			if l := lg(p.job); wait < 0 || l < wait {
				wait = l
			}
		}
	}
	for _, p := range batch {
		note(p)
	}
	add := func(p *pending[J]) {
		batch = append(batch, p)
		note(p)
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for len(batch) < c.opt.MaxBatch {
		select {
		case p := <-c.in:
			add(p)
			continue
		default:
		}
		left := max(c.opt.MaxWait, wait) - time.Since(start)
		if left <= 0 {
			return batch
		}
		if timer == nil {
			timer = time.NewTimer(left)
		} else {
			timer.Reset(left)
		}
		select {
		case p := <-c.in:
			add(p)
		case <-timer.C:
			timer = nil
			return batch
		}
	}
	return batch
}

// drain commits what was queued before Close.
func (c *Committer[J]) drain() {
	for {
		batch := c.fill(nil, time.Now(), false)
		if len(batch) == 0 {
			return
		}
		c.commit(batch, time.Now())
	}
}

// commit writes a batch, tells the handler, and hands the batch to the
// releasing goroutine. The connection is back in the pool before
// Committed or Aborted run, so they may use the database.
func (c *Committer[J]) commit(batch []*pending[J], start time.Time) {
	w := &written[J]{batch: batch, t: BatchTimings{Start: start, Jobs: len(batch), Queued: start.Sub(batch[0].queued), Fill: time.Since(start)}}
	if e := c.notDurable.Load(); e != nil {
		w.err = *e
	} else {
		w.applied, w.err = c.write(batch, &w.t)
	}
	w.committed = time.Now()
	if w.err != nil {
		for _, p := range batch {
			if p.err == nil {
				p.err = w.err
			}
		}
		c.h.Aborted(w.applied, w.err)
	} else {
		c.h.Committed(w.applied)
	}
	c.written <- w
}

// release syncs what was committed and releases each batch's callers, in
// batch order, while the committer writes the next batch.
func (c *Committer[J]) release() {
	defer close(c.released)
	dh, _ := c.h.(DurableHandler[J])
	var group []*written[J]
	for w := range c.written {
		group = append(group[:0], w)
		for more := true; more; { // whatever else is written by now shares the Sync
			select {
			case w, ok := <-c.written:
				if !ok {
					more = false
					break
				}
				group = append(group, w)
			default:
				more = false
			}
		}
		var syncErr error
		if c.opt.Sync != nil && c.notDurable.Load() == nil {
			for _, w := range group {
				if w.err == nil {
					syncErr = c.sync()
					break
				}
			}
		} else if e := c.notDurable.Load(); e != nil {
			syncErr = *e // committed after the failure, before the committer saw it
		}
		synced := time.Now()
		for _, w := range group {
			if w.err == nil {
				w.t.Sync = synced.Sub(w.committed)
				if dh != nil {
					dh.Durable(w.applied, syncErr)
				}
				if syncErr != nil {
					for _, p := range w.batch {
						if p.err == nil {
							p.err = syncErr
						}
					}
				}
			}
			notified := time.Now()
			for _, p := range w.batch {
				p.notify(p.err)
			}
			if c.opt.Observe != nil {
				w.t.Notify = time.Since(notified)
				c.opt.Observe(w.t)
			}
		}
	}
}

// sync runs Options.Sync; its first failure stops the committer for good.
func (c *Committer[J]) sync() error {
	err := c.opt.Sync()
	if err == nil {
		return nil
	}
	err = fmt.Errorf("%w: %w", ErrNotDurable, err)
	c.notDurable.CompareAndSwap(nil, &err)
	return *c.notDurable.Load()
}

// write runs the batch's transaction: the fast path, or the slow one. err
// is the transaction's failure (each job's own is in its pending).
func (c *Committer[J]) write(batch []*pending[J], t *BatchTimings) (applied []J, err error) {
	// The batch holds a connection of its own so that a failed COMMIT,
	// which leaves SQLite's transaction open and database/sql's Tx done,
	// can still be rolled back before the connection serves anyone else.
	ctx := context.Background()
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if c.opt.Sync != nil {
		// The pragma holds for this connection until set back, so it is
		// set back before any other writer (the dashboard's) uses it: their
		// commits sync as before.
		var was int
		if err := conn.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&was); err != nil {
			return nil, err
		}
		if _, err := conn.ExecContext(ctx, `PRAGMA synchronous=NORMAL`); err != nil {
			return nil, err
		}
		defer func() {
			if _, rerr := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA synchronous=%d`, was)); rerr != nil {
				// A connection left unsynced must serve no one: the pool
				// drops it and opens another, with the database's settings.
				// The batch stands (Sync makes it durable).
				conn.Raw(func(any) error { return driver.ErrBadConn })
			}
		}()
	}
	began := time.Now()
	commit := func(tx *sql.Tx) error {
		committing := time.Now()
		t.Apply = committing.Sub(began)
		defer func() { t.Commit = time.Since(committing) }()
		if err := tx.Commit(); err != nil {
			conn.ExecContext(ctx, `ROLLBACK`) // fails harmlessly if SQLite already did
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	jobs := make([]J, len(batch))
	for i, p := range batch {
		jobs[i] = p.job
	}
	if err := c.h.ApplyAll(tx, jobs); err == nil {
		return jobs, commit(tx)
	}
	// The slow path: the same jobs, each under its own savepoint.
	t.SlowPath = true
	tx.Rollback()
	if tx, err = conn.BeginTx(ctx, nil); err != nil {
		return nil, err
	}
	for _, p := range batch {
		var broken error
		if p.err, broken = c.apply(tx, p.job); broken != nil {
			// The savepoint could not be undone or released: nothing of
			// this transaction can be trusted.
			tx.Rollback()
			return applied, broken
		}
		if p.err == nil {
			applied = append(applied, p.job)
		}
	}
	return applied, commit(tx)
}

// apply runs one job under a savepoint, so its failure undoes it alone.
// broken reports a transaction left in an unknown state.
func (c *Committer[J]) apply(tx *sql.Tx, job J) (err, broken error) {
	if _, err := tx.Exec(`SAVEPOINT job`); err != nil {
		return nil, err
	}
	if err := c.h.Apply(tx, job); err != nil {
		if _, rerr := tx.Exec(`ROLLBACK TO job`); rerr != nil {
			return err, rerr
		}
		if _, rerr := tx.Exec(`RELEASE job`); rerr != nil {
			return err, rerr
		}
		return err, nil
	}
	if _, err := tx.Exec(`RELEASE job`); err != nil {
		return nil, err
	}
	return nil, nil
}
