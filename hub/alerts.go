package hub

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kordon/kordon/hub/events"
	"github.com/kordon/kordon/internal/contract"
)

// alertPublisher sends committed alerts on the crossing's alert topic, off
// the commit path (Committed runs on the committer's goroutine: the log
// line and the JSON are made on the publisher's own). The alerts are in
// the store already: a full queue costs a live MQTT notice, never the alert,
// and each notice missed is counted (unpublished, in /metrics).
type alertPublisher struct {
	publish     func(js []byte) error
	log         *slog.Logger
	q           chan queuedAlert
	quit        chan struct{}
	stopOnce    sync.Once
	unpublished atomic.Int64
}

// queue is how many alerts may wait to be published: enough for what a
// commit batch or two can raise at once, which the publisher works off
// while the next batch is written.
func newAlertPublisher(publish func([]byte) error, queue int, log *slog.Logger) *alertPublisher {
	return &alertPublisher{publish: publish, log: log, q: make(chan queuedAlert, queue), quit: make(chan struct{})}
}

// queuedAlert is an alert waiting to be published, with its JSON when the
// store's was made (else the publisher makes it).
type queuedAlert struct {
	a  contract.Alert
	js []byte
}

func (p *alertPublisher) Committed(b *events.Batch) {
	for i, a := range b.Alerts {
		q := queuedAlert{a: a}
		if i < len(b.AlertJSON) {
			q.js = b.AlertJSON[i]
		}
		select {
		case p.q <- q:
		default:
			p.unpublished.Add(1)
			p.log.Warn("alert publish queue full; alert is stored", "id", a.ID, "rule", a.Rule, "severity", a.Severity, "box", a.Box, "device", a.Device)
		}
	}
}

func (p *alertPublisher) run() {
	for {
		select {
		case <-p.quit:
			return
		case q := <-p.q:
			a := &q.a
			// The audit line, as Info would write it, without boxing
			// each string into an interface.
			p.log.LogAttrs(context.Background(), slog.LevelInfo, "alert",
				slog.String("id", a.ID), slog.String("rule", a.Rule), slog.String("severity", a.Severity),
				slog.String("box", a.Box), slog.String("device", a.Device))
			js := q.js
			if js == nil {
				js, _ = json.Marshal(a)
			}
			if err := p.publish(js); err != nil {
				p.unpublished.Add(1)
				p.log.Warn("alert publish; alert is stored", "id", a.ID, "err", err)
			}
		}
	}
}

func (p *alertPublisher) stop() { p.stopOnce.Do(func() { close(p.quit) }) }

// alertWrites gathers a batch's alerts and changes on the fast path, to
// write them in a few statements for the whole batch instead of three or
// four per alert (each statement costs more to run through database/sql
// and the driver than SQLite spends storing its row).
type alertWrites struct {
	raised  []raisedAlert
	changes []jobChanges
}

type raisedAlert struct {
	j      *job
	a      contract.Alert
	body   []byte // a as JSON, as stored (and published)
	raised string // a.Raised as stored (and logged)
	new    bool   // inserted now (not there already)
}

type jobChanges struct {
	j       *job
	changes []events.Change
}

func (w *alertWrites) add(j *job, alerts []contract.Alert, changes []events.Change) {
	for _, a := range alerts {
		w.raised = append(w.raised, raisedAlert{j: j, a: a})
	}
	if len(alerts) > 0 || len(changes) > 0 {
		w.changes = append(w.changes, jobChanges{j: j, changes: changes})
	}
}

// Statement texts for 1, 2, 4 … 32 rows: a few texts, prepared once.
var (
	// insertAlertsText skips an alert already there (OR IGNORE) and
	// leaves the rowid to SQLite, so that it can never fail halfway: one
	// that could (a conflict or a NULL undoing the statement, ABORT) has
	// SQLite copy every page it touches into a statement journal first.
	// insertAlerts tells a skipped alert from a new one by the rowids.
	insertAlertsText = chunkedSQL(func(n int) string {
		return `INSERT OR IGNORE INTO alerts(id, box, device, rule, severity, state, raised, body) VALUES ` + valuesSQL(n, 8)
	})
	// insertLogText writes any entries, seq left to SQLite (logRows.write);
	// a NULL bound is the action "raised" or an empty text, and costs no
	// copy of a string into C memory.
	insertLogText = chunkedSQL(func(n int) string {
		return `INSERT OR FAIL INTO alert_log(alert_id, action, user, role, note, time, ref) VALUES ` +
			strings.TrimSuffix(strings.Repeat(`(?,ifnull(?,'raised'),ifnull(?,''),ifnull(?,''),ifnull(?,''),?,ifnull(?,'')),`, n), ",")
	})
	// insertRaisedLogText writes "raised" entries, the most of a batch's,
	// binding their two values only: the driver's cost is per value bound.
	insertRaisedLogText = chunkedSQL(func(n int) string {
		return `INSERT OR FAIL INTO alert_log(alert_id, action, user, role, note, time, ref) VALUES ` +
			strings.TrimSuffix(strings.Repeat(`(?,'raised','','','',?,''),`, n), ",")
	})
	// addRepeatsText and setClearedText update alerts by id, each bound
	// with a value (repeats to add, the clear's time), and markAlertedText
	// readings by rowid. OR FAIL, as the log's inserts: a statement that
	// changes many rows and may undo itself alone (ABORT, on a NOT NULL
	// column set) has SQLite copy every page it touches into a statement
	// journal first.
	addRepeatsText = chunkedSQL(func(n int) string {
		return `UPDATE OR FAIL alerts SET repeats = repeats + v.column2 FROM (VALUES ` + valuesSQL(n, 2) + `) AS v WHERE alerts.id = v.column1`
	})
	setClearedText = chunkedSQL(func(n int) string {
		return `UPDATE OR FAIL alerts SET cleared_at = v.column2 FROM (VALUES ` + valuesSQL(n, 2) + `) AS v WHERE alerts.id = v.column1`
	})
	markAlertedText = chunkedSQL(func(n int) string {
		return `UPDATE OR FAIL readings SET alerted = 1 WHERE id IN (` + strings.TrimSuffix(strings.Repeat("?,", n), ",") + `)`
	})
)

// write stores the batch's alerts, marks the readings behind the new ones
// kept, logs every raise and change in job order (seq after seq, as the
// job-by-job path would), and sets each job's alerts and changes.
// readings are the batch's reading jobs (their rowids spare a lookup by key).
func (w *alertWrites) write(tx *txq, readings []*job) error {
	if len(w.changes) == 0 {
		return nil
	}
	if err := w.insertAlerts(tx); err != nil {
		return err
	}

	// The readings behind new alerts are kept as long as the alerts: by
	// rowid for this batch's, by key for an earlier one's (a correlated
	// partner). An alert's reading is almost always the one that raised
	// it; the batch's others are looked up only for a partner.
	var rowids map[contract.ReadingRef]int64
	var mark []any
	for _, r := range w.raised {
		if !r.new {
			continue
		}
		for _, ref := range r.a.Readings {
			if ref == r.j.ref && r.j.rowid != 0 {
				mark = append(mark, r.j.rowid)
				continue
			}
			if rowids == nil {
				rowids = make(map[contract.ReadingRef]int64, len(readings))
				for _, j := range readings {
					if j.added && j.rowid != 0 {
						rowids[j.ref] = j.rowid
					}
				}
			}
			if id, ok := rowids[ref]; ok {
				mark = append(mark, id)
				continue
			}
			if _, err := tx.exec(markAlertedByKeySQL, ref.Box, ref.Incarnation, ref.Device, ref.Seq); err != nil {
				return err
			}
		}
	}
	if err := markAlertedText.each(len(mark), func(from, to int, text string) error {
		_, err := tx.exec(text, mark[from:to]...)
		return err
	}); err != nil {
		return err
	}

	// The log, in job order: each job's raises, then its changes.
	last, err := maxOf(tx, `SELECT COALESCE(MAX(seq), 0) FROM alert_log`)
	if err != nil {
		return err
	}
	var log logRows
	log.next = last + 1
	repeats := map[string]int{}
	cleared := map[string]time.Time{}
	next := 0 // into w.raised
	for _, jc := range w.changes {
		j := jc.j
		for ; next < len(w.raised) && w.raised[next].j == j; next++ {
			r := w.raised[next]
			if !r.new {
				continue // raised before: its reading was stored, then removed by retention
			}
			last++
			j.alerts = append(j.alerts, r.a)
			j.alertJSON = append(j.alertJSON, r.body)
			j.changes = append(j.changes, events.Change{Seq: last, AlertID: r.a.ID, Action: "raised", Time: r.a.Raised})
			log.add(logEntry{alertID: r.a.ID, time: r.raised})
		}
		for _, c := range jc.changes {
			last++
			c.Seq = last
			var ref any
			if c.Ref != nil {
				ref = string(refJSON(c.Ref))
			}
			log.add(logEntry{alertID: c.AlertID, action: c.Action, user: orNull(c.User), role: orNull(c.Role), note: orNull(c.Note),
				time: stamp(c.Time), ref: ref})
			switch c.Action {
			case "repeated":
				repeats[c.AlertID]++
			case "cleared":
				cleared[c.AlertID] = c.Time
			}
			j.changes = append(j.changes, c)
		}
	}
	if err := log.write(tx); err != nil {
		return err
	}
	// Each alert repeated or cleared, once (its count of repeats, its last
	// clear), 32 to a statement.
	updates := make([]any, 0, 2*max(len(repeats), len(cleared)))
	for id, n := range repeats {
		updates = append(updates, id, n)
	}
	if err := updateAlerts(tx, addRepeatsText, updates); err != nil {
		return err
	}
	updates = updates[:0]
	for id, at := range cleared {
		updates = append(updates, id, stamp(at))
	}
	return updateAlerts(tx, setClearedText, updates)
}

// updateAlerts runs texts over args, pairs of an alert's id and a value.
func updateAlerts(tx *txq, texts chunked, args []any) error {
	return texts.each(len(args)/2, func(from, to int, text string) error {
		_, err := tx.exec(text, args[2*from:2*to]...)
		return err
	})
}

// orNull is s, or NULL for an empty s (which the log's statement stores
// as an empty text): a NULL is bound without copying a string into C
// memory.
func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// logEntry is an alert log entry to write; action nil is "raised" (and
// then user, role, note and ref are nil: empty).
type logEntry struct {
	alertID, time                 string
	action, user, role, note, ref any
}

// logRows are a batch's log entries, in seq order from next.
type logRows struct {
	next    int64
	entries []logEntry
}

func (l *logRows) add(e logEntry) { l.entries = append(l.entries, e) }

// write inserts the entries in seq order, in statements of 32 rows (and
// a few smaller ones): most in insertLogText's, which takes any entry;
// a run of raised entries filling one of insertRaisedLogText's, which
// binds two values a row instead of seven (the driver's cost is per value
// bound), in that. A batch's raises and its other changes (a rule's
// repeats) come in short runs, alternating: one statement a run, as
// before, cost more than the values saved.
//
// The seq is SQLite's (the rowid after the largest, which the entries
// were numbered from), checked after each statement: one that names the
// rowid, or can fail halfway and undo itself alone (ABORT), has SQLite
// copy every page it touches into a statement journal first. OR FAIL stops
// at a row that cannot be stored and leaves the rows before it: the error
// sends the batch job by job, and its transaction is rolled back.
func (l *logRows) write(tx *txq) error {
	const full = 1 << (len(chunked{}) - 1)
	args := make([]any, 0, 7*full)
	stored := func(res sql.Result, rows int) error {
		l.next += int64(rows)
		if id, err := res.LastInsertId(); err != nil || id != l.next-1 {
			return fmt.Errorf("alert log: entries stored up to seq %d, numbered up to %d (%v)", id, l.next-1, err)
		}
		return nil
	}
	general := func(es []logEntry) error {
		return insertLogText.each(len(es), func(from, to int, text string) error {
			args = args[:0]
			for _, e := range es[from:to] {
				args = append(args, e.alertID, e.action, e.user, e.role, e.note, e.time, e.ref)
			}
			res, err := tx.exec(text, args...)
			if err != nil {
				return err
			}
			return stored(res, to-from)
		})
	}
	es := l.entries
	from := 0 // es[from:i] are waiting for insertLogText
	for i := 0; i < len(es); {
		raised := 0
		for i+raised < len(es) && es[i+raised].action == nil && raised < full {
			raised++
		}
		if raised < full {
			i += max(raised, 1)
			continue
		}
		if err := general(es[from:i]); err != nil {
			return err
		}
		args = args[:0]
		for _, e := range es[i : i+full] {
			args = append(args, e.alertID, e.time)
		}
		res, err := tx.exec(insertRaisedLogText[len(insertRaisedLogText)-1], args...)
		if err != nil {
			return err
		}
		if err := stored(res, full); err != nil {
			return err
		}
		i += full
		from = i
	}
	return general(es[from:])
}

// insertAlerts stores the batch's raised alerts and marks new those that
// were not there before. The same id twice in a batch is inserted once, by
// the first. An alert is almost always new: SQLite gives each new row the
// rowid after the table's largest, and the writer is the only one, so a
// statement that stored all its rows and whose last got the rowid after
// the batch's last needs no answer but its count. One that did not (it
// met an alert already stored: raised before, its reading removed by
// retention, then sent again) is asked which rows it stored (newAlertsOf).
// RETURNING the ids, as before, cost a row handed back to Go for every
// alert; ABORT on an id already there, as before too, a statement journal.
func (w *alertWrites) insertAlerts(tx *txq) error {
	if len(w.raised) == 0 {
		return nil
	}
	last, err := maxOf(tx, `SELECT COALESCE(MAX(rowid), 0) FROM alerts`)
	if err != nil {
		return err
	}
	var args []any
	return insertAlertsText.each(len(w.raised), func(from, to int, text string) error {
		part := w.raised[from:to]
		args = args[:0]
		for i := range part {
			r := &part[i]
			body, err := alertJSON(&r.a)
			if err != nil {
				return err
			}
			r.body, r.raised = body, stamp(r.a.Raised)
			args = append(args, r.a.ID, r.a.Box, r.a.Device, r.a.Rule, r.a.Severity, r.a.State, r.raised, string(body))
		}
		res, err := tx.exec(text, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == int64(len(part)) {
			if id, err := res.LastInsertId(); err == nil && id == last+n {
				for i := range part {
					part[i].new = true
				}
				last = id
				return nil
			}
		}
		if err := newAlertsOf(tx, part, last, n); err != nil {
			return err
		}
		last += n
		return nil
	})
}

// newAlertsOf marks new the alerts of part whose rows the statement stored
// (n rows, every rowid after the table's largest before it, after). The
// first of two alerts of one id in part is the one stored. An alert whose
// row is not there and whose id is not stored either was skipped for
// another reason (the insert ignores every conflict): an error, which
// sends the batch job by job, never an alert taken for one raised before.
func newAlertsOf(tx *txq, part []raisedAlert, after, n int64) error {
	rows, err := tx.query(`SELECT id FROM alerts WHERE rowid > ?`, after)
	if err != nil {
		return err
	}
	defer rows.Close()
	stored := make(map[string]bool, n)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		stored[id] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	if int64(len(stored)) != n {
		return fmt.Errorf("the insert stored %d alerts, %d found after rowid %d", n, len(stored), after)
	}
	for i := range part {
		r := &part[i]
		if stored[r.a.ID] {
			r.new = true
			delete(stored, r.a.ID) // a second of the same id is not new
			continue
		}
		r.new = false
		var there int
		if err := tx.tx.QueryRow(`SELECT COUNT(*) FROM alerts WHERE id = ?`, r.a.ID).Scan(&there); err != nil {
			return err
		}
		if there == 0 {
			return fmt.Errorf("alert %s neither stored nor there before", r.a.ID)
		}
	}
	return nil
}
