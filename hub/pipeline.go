package hub

import (
	"database/sql"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kordon/kordon/hub/events"
	"github.com/kordon/kordon/hub/groupcommit"
	"github.com/kordon/kordon/internal/contract"
)

// The path of a reading at the hub, in parts:
//
//	ingestHook (ingest.go)   the broker's publish hook: topic, size, parse and
//	                         validate once (parse.go), rules' expressions and
//	                         the watchlist on the box's own goroutine
//	groupcommit              one transaction for the jobs of every box
//	pipeline (this file)     inside it: the reading, the rules' state
//	                         machine, its alerts and changes, all or none
//	events.Subscriber        after the commit: live page, alert publishing,
//	                         gaps, metrics, and whatever else attaches
//
// The box's PUBACK is sent when its job's transaction has committed.

type jobKind int

const (
	jobReading jobKind = iota
	jobRefusal
	jobIncarnation // a box state named an incarnation
	jobAck         // a refused message that names no reading: only its PUBACK waits in line
)

// job is one message's work in a batch.
type job struct {
	kind     jobKind
	ref      contract.ReadingRef
	received time.Time

	// readings
	p           *parsed
	readingKind string // the reading's kind
	origin      time.Time
	quality     string
	body        []byte
	match       *matched
	watch       []contract.Alert // watchlist hits, raised with the reading
	// row is the reading's values in insertReadings' column order, made on
	// the box's goroutine (readingRow): formatted and boxed there, not on
	// the committer's, the one every reading waits for.
	row []any

	// refusals
	reason string
	size   int

	// results, set by Apply
	added  bool
	rowid  int64 // the stored reading's, when the fast path inserted it
	newInc bool
	alerts []contract.Alert
	// alertJSON is each of alerts as stored, when the fast path made it
	// (parallel to alerts, or nil).
	alertJSON [][]byte
	changes   []events.Change
}

// pipeline is groupcommit's handler: what a batch writes, and what is told
// once it committed.
type pipeline struct {
	store    *store
	slow     *txq // the slow path's transaction
	crossing string
	rules    *ruleSet
	subs     events.Subscriber
	count    *counters

	batch *stateTx        // the rules' state as this batch moves it
	incs  map[string]bool // box\x00incarnation already recorded
	mu    sync.Mutex      // guards incs (box states record incarnations too)

	// held says whether an identity is held to its fair share now
	// (fair.go): its readings may wait a little for company.
	held func(identity string) bool
	// notDurable is told when a batch's sync failed (Hub.Failed).
	notDurable func(error)

	// timings, when set, is told where each batch's time went (the
	// benchmarks print it).
	timings atomic.Pointer[func(groupcommit.BatchTimings)]
}

// Linger lets a batch made only of readings of identities held to their
// fair share wait up to fairLinger for more: a flood held to a few readings
// in flight otherwise commits each handful alone, hundreds of syncs a
// second of a dozen pages each, and that write load slows the disk's
// syncs for every box. Any other job ends the wait at once.
func (p *pipeline) Linger(j *job) time.Duration {
	if p.held != nil && j.kind == jobReading && p.held(j.ref.Box) {
		return fairLinger
	}
	return 0
}

func (p *pipeline) observeBatch(t groupcommit.BatchTimings) {
	if f := p.timings.Load(); f != nil {
		(*f)(t)
	}
}

func newPipeline(st *store, crossing string, rules *ruleSet, subs events.Subscriber, count *counters) *pipeline {
	return &pipeline{store: st, crossing: crossing, rules: rules, subs: subs, count: count, incs: map[string]bool{}}
}

// ApplyAll is the fast path: the batch's new readings in a few multi-row
// inserts (storedOf tells which were new when one stored fewer), the rules of each in order,
// then every alert, log entry and change of the batch in a few statements
// more (alerts.go). Any error sends the batch to Apply, job by job.
func (p *pipeline) ApplyAll(sqltx *sql.Tx, jobs []*job) error {
	p.batch = nil
	tx := p.store.in(sqltx)
	var readings []*job
	for _, j := range jobs {
		j.added, j.newInc, j.alerts, j.alertJSON, j.changes, j.rowid = false, false, nil, nil, nil, 0
		if j.kind == jobReading {
			readings = append(readings, j)
		}
	}
	if err := insertReadings(tx, readings); err != nil {
		return err
	}
	var w alertWrites
	for _, j := range jobs {
		if err := p.record(tx, j); err != nil {
			p.batch = nil
			return err
		}
		if j.kind != jobReading || !j.added {
			continue
		}
		alerts, changes, st := p.decide(j)
		st.commit() // into the batch's state, which the rules see only if the batch commits
		w.add(j, alerts, changes)
	}
	if err := w.write(tx, readings); err != nil {
		p.batch = nil
		return err
	}
	if err := countActivity(tx, jobs); err != nil {
		p.batch = nil
		return err
	}
	return nil
}

// Apply writes one job (the slow path, under its own savepoint).
func (p *pipeline) Apply(sqltx *sql.Tx, j *job) error {
	j.added, j.newInc, j.alerts, j.alertJSON, j.changes, j.rowid = false, false, nil, nil, nil, 0
	if p.slow == nil || p.slow.tx != sqltx {
		p.slow = p.store.in(sqltx)
	}
	tx := p.slow
	if err := p.record(tx, j); err != nil {
		return err
	}
	if j.kind != jobReading {
		return nil
	}
	added, err := insertReading(tx, j)
	if err != nil {
		return err
	}
	j.added = added
	if !j.added {
		return nil // a duplicate runs no rule: the first delivery did
	}
	if err := countActivity(tx, []*job{j}); err != nil {
		return err
	}
	alerts, changes, st := p.decide(j)
	for _, a := range alerts {
		seq, err := insertAlert(tx, a)
		if err != nil {
			return err
		}
		if seq == 0 {
			continue // raised before: its reading was stored, then removed by retention
		}
		j.alerts = append(j.alerts, a)
		j.changes = append(j.changes, events.Change{Seq: seq, AlertID: a.ID, Action: "raised", Time: a.Raised})
	}
	for i := range changes {
		if err := logAlertChange(tx, &changes[i]); err != nil {
			return err
		}
	}
	j.changes = append(j.changes, changes...)
	// The job's state moves join the batch's now; they reach the rules'
	// state only when the batch commits. A failed job returned above, and
	// its moves were dropped with st.
	st.commit()
	return nil
}

// record writes what a job is besides a reading: the incarnation it
// names, if new, and a refusal.
func (p *pipeline) record(tx *txq, j *job) error {
	if j.ref.Incarnation != "" && !p.knownIncarnation(j.ref.Box, j.ref.Incarnation) {
		added, err := insertIncarnation(tx, j.ref.Box, j.ref.Incarnation, j.received)
		if err != nil {
			return err
		}
		j.newInc = added
	}
	if j.kind == jobRefusal {
		return insertRefusal(tx, j)
	}
	return nil
}

// decide runs the rules' state machine on a new reading: the alerts it
// raises (the rules' and the watchlist's) and its changes to alerts
// raised before. The state moves are in st, for the caller to keep once
// the job's writes succeeded.
func (p *pipeline) decide(j *job) ([]contract.Alert, []events.Change, *stateTx) {
	if p.batch == nil {
		p.batch = p.rules.state.begin()
	}
	st := p.batch.begin()
	alerts, changes := decide(j.match, st, p.crossing, &j.p.r, j.ref, j.received)
	return append(alerts, j.watch...), changes, st
}

func (p *pipeline) knownIncarnation(box, inc string) bool {
	var buf [80]byte
	k := incKey(buf[:0], box, inc)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.incs[string(k)] // looked up without making the string
}

// incKey appends the incs key of box's incarnation inc to b: built in a
// buffer, so that the lookup every reading makes allocates nothing.
func incKey(b []byte, box, inc string) []byte {
	b = append(b, box...)
	b = append(b, 0)
	return append(b, inc...)
}

func (p *pipeline) Committed(jobs []*job) {
	p.slow = nil
	p.store.stmts.prepareWanted() // between transactions: the writer's connection is free
	if p.batch != nil {
		p.batch.commit()
		p.batch = nil
	}
	for _, j := range jobs {
		if (j.newInc || j.ref.Incarnation != "") && !p.knownIncarnation(j.ref.Box, j.ref.Incarnation) {
			p.mu.Lock()
			p.incs[j.ref.Box+"\x00"+j.ref.Incarnation] = true
			p.mu.Unlock()
		}
	}
}

// Durable tells the counters and the subscribers (the gap detector,
// alert publishing, the live page, the BLO uplink) of a batch on disk,
// on the group commit's releasing goroutine, while the next batch is
// written. A batch whose sync failed is committed but not known to be on
// disk: none of it is published, and its callers count it a store
// failure (their boxes keep the readings, and send them again).
func (p *pipeline) Durable(jobs []*job, err error) {
	if err != nil {
		if p.notDurable != nil {
			p.notDurable(err)
		}
		return
	}
	b := &events.Batch{}
	for _, j := range jobs {
		if j.newInc {
			b.Incarnations = append(b.Incarnations, events.Incarnation{Box: j.ref.Box, Incarnation: j.ref.Incarnation, First: j.received})
		}
		switch {
		case j.kind == jobRefusal:
			b.Refused = append(b.Refused, events.Refusal{Ref: j.ref, Reason: j.reason, Size: j.size})
		case j.kind == jobReading && j.added:
			b.Readings = append(b.Readings, events.Reading{Ref: j.ref, Kind: j.readingKind, Redacted: j.p.redacted})
			b.Alerts = append(b.Alerts, j.alerts...)
			if len(j.alertJSON) == len(j.alerts) {
				b.AlertJSON = append(b.AlertJSON, j.alertJSON...)
			} else {
				for range j.alerts {
					b.AlertJSON = append(b.AlertJSON, nil)
				}
			}
			b.Changes = append(b.Changes, j.changes...)
		case j.kind == jobReading:
			b.Duplicates = append(b.Duplicates, j.ref)
		}
	}
	p.count.committed(b)
	p.subs.Committed(b)
}

func (p *pipeline) Aborted(jobs []*job, err error) {
	p.batch, p.slow = nil, nil // nothing of the batch happened, to the rules either
	p.store.stmts.prepareWanted()
	p.count.storeFailures.Add(int64(len(jobs)))
}

// ObserveCommits has f told where each group commit's time went (f runs
// on the committer's goroutine: keep it short); nil stops it. Benchmarks
// print it beside their latencies.
func (h *Hub) ObserveCommits(f func(groupcommit.BatchTimings)) {
	if f == nil {
		h.pipeline.timings.Store(nil)
		return
	}
	h.pipeline.timings.Store(&f)
}
