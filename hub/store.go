package hub

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/bits"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // pure Go: hubd stays a static binary

	"github.com/kordon/kordon/hub/events"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/sqltime"
)

// store keeps readings and alerts in SQLite (WAL). A reading is named by
// (box, incarnation, device, seq), which makes QoS 1 redelivery idempotent
// and keeps two lives of one box apart. Writes go through one connection
// (SQLite has one writer; ingest batches its writes, pipeline.go); reads
// have a pool of their own, so the dashboard never waits for a commit.
type store struct {
	db *sql.DB // the writer
	rd *sql.DB // readers
	// changed hears of alert transitions committed outside ingest (the
	// dashboard's acknowledgements), like every other committed change.
	changed events.Subscriber
	ckpt    *checkpointer
	wal     *walSync     // the group commit's fsync (walsync.go)
	stmts   *writerStmts // the writer's statements, prepared once
	// seqStmts are the readers' statements the gap tracker runs when it
	// first sees a device, on the committer's goroutine: each prepared
	// anew cost more than running it, for every device of every box
	// after a start.
	seqStmts readerStmts
}

// readerStmts keeps statements prepared on the reader pool (database/sql
// prepares each on a pool's connection when it first runs there).
type readerStmts struct {
	mu    sync.Mutex
	ready map[string]*sql.Stmt
}

func (r *readerStmts) query(db *sql.DB, text string, args ...any) (*sql.Rows, error) {
	r.mu.Lock()
	st := r.ready[text]
	if st == nil {
		var err error
		if st, err = db.Prepare(text); err != nil {
			r.mu.Unlock()
			return nil, err
		}
		if r.ready == nil {
			r.ready = map[string]*sql.Stmt{}
		}
		r.ready[text] = st
	}
	r.mu.Unlock()
	return st.Query(args...)
}

func (r *readerStmts) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, st := range r.ready {
		st.Close()
	}
	r.ready = nil
}

func openStore(dir string) (*store, error) {
	path := filepath.Join(dir, "hub.db")
	// A larger page cache keeps the hot leaves of the readings key (one per
	// device being written) in memory as the table grows.
	const pragmas = "_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=cache_size(-65536)"
	// The writer checkpoints only as a backstop (256 MiB of WAL): a
	// checkpoint in the committing connection held every box's PUBACK for
	// tens of milliseconds; the checkpointer does it beside the commits,
	// and lets the WAL start over at 64 MiB (checkpointer). A WAL grown
	// past 128 MiB is cut back when it starts over: cut at 8 MiB, as
	// before, a WAL that grows by more than that between two checkpoints
	// was truncated at every restart, an ftruncate in the commit and its
	// blocks allocated anew by the writes after it. A statement that may
	// fail halfway keeps a statement journal (to undo itself alone); past
	// 64 KiB SQLite spills it to a temporary file, written and thrown away
	// in every batch: in memory it costs no syscall, and it is never part
	// of what a commit makes durable.
	db, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=synchronous(FULL)&_pragma=wal_autocheckpoint(65536)&_pragma=journal_size_limit(134217728)&_pragma=temp_store(MEMORY)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if err := migrate(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("hub db: %w", err)
	}
	rd, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		db.Close()
		return nil, err
	}
	rd.SetMaxOpenConns(4)
	ck, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=synchronous(FULL)")
	if err != nil {
		db.Close()
		rd.Close()
		return nil, err
	}
	ck.SetMaxOpenConns(1)
	return &store{db: db, rd: rd, changed: events.Func(func(*events.Batch) {}), ckpt: startCheckpointer(ck, 500*time.Millisecond),
		wal: newWALSync(path), stmts: newWriterStmts(db)}, nil
}

// txq runs statements inside one transaction. The writer's statements
// are prepared once on its connection and kept (writerStmts); a
// statement seen for the first time is prepared for this transaction only,
// and kept from the next one on.
type txq struct {
	tx    *sql.Tx
	kept  *writerStmts
	bound map[string]*sql.Stmt
}

func (s *store) in(tx *sql.Tx) *txq {
	return &txq{tx: tx, kept: s.stmts, bound: map[string]*sql.Stmt{}}
}

// stmt returns a statement bound to the transaction, on its connection
// (the writer's only one: preparing on the pool would wait for it).
func (q *txq) stmt(text string) (*sql.Stmt, error) {
	if st := q.bound[text]; st != nil {
		return st, nil
	}
	var st *sql.Stmt
	if kept := q.kept.lookup(text); kept != nil {
		st = q.tx.Stmt(kept)
	} else {
		var err error
		if st, err = q.tx.Prepare(text); err != nil {
			return nil, err
		}
	}
	q.bound[text] = st
	return st, nil
}

// writerStmts keeps the writer's statements prepared for the life of the
// store. database/sql's Tx.Stmt runs a statement prepared on the DB on the
// transaction's connection, and prepares it there only if it was not
// before; the writer has one connection, so each statement is parsed and
// planned once, not once per transaction (a transaction at nominal load
// holds one or two readings, and preparing its ten statements cost more
// than running them).
type writerStmts struct {
	db     *sql.DB
	mu     sync.Mutex
	ready  map[string]*sql.Stmt
	wanted map[string]bool
}

func newWriterStmts(db *sql.DB) *writerStmts {
	return &writerStmts{db: db, ready: map[string]*sql.Stmt{}, wanted: map[string]bool{}}
}

// lookup returns the kept statement for text, or nil (and notes it for
// prepareWanted) when there is none yet.
func (w *writerStmts) lookup(text string) *sql.Stmt {
	w.mu.Lock()
	defer w.mu.Unlock()
	if st := w.ready[text]; st != nil {
		return st
	}
	w.wanted[text] = true
	return nil
}

// prepareWanted prepares the statements transactions asked for. The caller
// must not hold the writer's connection (it would wait for itself): the
// committer calls it between transactions. A statement that fails to
// prepare is asked for again by the next transaction that runs it.
func (w *writerStmts) prepareWanted() {
	w.mu.Lock()
	var texts []string
	for text := range w.wanted {
		texts = append(texts, text)
	}
	clear(w.wanted)
	w.mu.Unlock()
	// Prepared without the lock: a transaction on the writer may look a
	// statement up meanwhile, and Prepare waits for its connection.
	for _, text := range texts {
		st, err := w.db.Prepare(text)
		if err != nil {
			continue
		}
		w.mu.Lock()
		if w.ready[text] == nil {
			w.ready[text] = st
			st = nil
		}
		w.mu.Unlock()
		if st != nil {
			st.Close()
		}
	}
}

func (w *writerStmts) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, st := range w.ready {
		st.Close()
	}
	w.ready = map[string]*sql.Stmt{}
}

func (q *txq) exec(text string, args ...any) (sql.Result, error) {
	st, err := q.stmt(text)
	if err != nil {
		return nil, err
	}
	return st.Exec(args...)
}

func (q *txq) query(text string, args ...any) (*sql.Rows, error) {
	st, err := q.stmt(text)
	if err != nil {
		return nil, err
	}
	return st.Query(args...)
}

// Tables are created by migrate (migrate.go).
const schemaSQL = `
CREATE TABLE IF NOT EXISTS readings (
	id          INTEGER PRIMARY KEY,
	box         TEXT NOT NULL,
	incarnation TEXT NOT NULL DEFAULT '',
	device      TEXT NOT NULL,
	seq         INTEGER NOT NULL,
	kind        TEXT NOT NULL,
	origin      TEXT NOT NULL,
	received    TEXT NOT NULL,
	quality     TEXT NOT NULL,
	alerted     INTEGER NOT NULL DEFAULT 0, -- behind an alert: kept as long as the alert
	body        TEXT NOT NULL
);
-- The key; rows themselves are appended in commit order (rowid), which
-- keeps inserts cheap as the table grows.
CREATE UNIQUE INDEX IF NOT EXISTS readings_key ON readings(box, incarnation, device, seq);
-- Retention prunes per kind, oldest first (retention.go), and the BLO's
-- counts per kind read a time range of each kind. Recent readings are the
-- last rowids; activity per device has its own table. Every index is
-- written for every reading, so there is no other.
CREATE INDEX IF NOT EXISTS readings_kind ON readings(kind, received);
DROP INDEX IF EXISTS readings_recv;
CREATE TABLE IF NOT EXISTS alerts (
	id       TEXT PRIMARY KEY,
	box      TEXT NOT NULL,
	device   TEXT NOT NULL,
	rule     TEXT NOT NULL,
	severity TEXT NOT NULL,
	state    TEXT NOT NULL,
	raised   TEXT NOT NULL,
	body     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_raised ON alerts(raised);
-- alert_log is every change of every alert in order; its seq is the
-- dashboard's event id, so a viewer resumes after a disconnect from the
-- store and misses nothing (hub/dashstore.go). Its rows are never deleted,
-- so the rowid's max+1 never gives a number twice; AUTOINCREMENT would
-- write sqlite_sequence's page in every commit that raises an alert.
CREATE TABLE IF NOT EXISTS alert_log (
	seq      INTEGER PRIMARY KEY,
	alert_id TEXT NOT NULL,
	action   TEXT NOT NULL, -- raised | acknowledged | resolved | repeated | cleared
	user     TEXT NOT NULL DEFAULT '',
	role     TEXT NOT NULL DEFAULT '',
	note     TEXT NOT NULL DEFAULT '',
	time     TEXT NOT NULL,
	ref      TEXT NOT NULL DEFAULT '' -- reading behind a repeat or clear
);
CREATE INDEX IF NOT EXISTS alert_log_alert ON alert_log(alert_id);
-- Readings per device and hour, kept with each commit: the dashboard's
-- box health reads a day of activity from a few hundred rows, not from
-- every reading of the day.
CREATE TABLE IF NOT EXISTS activity (
	box    TEXT NOT NULL,
	device TEXT NOT NULL,
	hour   TEXT NOT NULL, -- received, truncated to the hour (RFC 3339, UTC)
	n      INTEGER NOT NULL,
	last   TEXT NOT NULL,
	PRIMARY KEY (hour, box, device)
);
-- Readings the hub refused but could name: their numbers are accounted
-- for (gaps.go never asks for them), and box health shows why.
CREATE TABLE IF NOT EXISTS refused (
	box         TEXT NOT NULL,
	incarnation TEXT NOT NULL,
	device      TEXT NOT NULL,
	seq         INTEGER NOT NULL,
	reason      TEXT NOT NULL,
	size        INTEGER NOT NULL,
	received    TEXT NOT NULL,
	PRIMARY KEY (box, incarnation, device, seq)
);
-- Every life of a box's sequence state the hub has seen.
CREATE TABLE IF NOT EXISTS incarnations (
	box         TEXT NOT NULL,
	incarnation TEXT NOT NULL,
	first_seen  TEXT NOT NULL,
	PRIMARY KEY (box, incarnation)
);
` + seqSQL + commandsSQL

// Sequence bookkeeping (gaps.go): lost ranges the boxes reported, and the
// contiguous high-water mark, saved as it moves, so a restarted hub does
// not ask again for what it has or knows is gone.
const seqSQL = `
CREATE TABLE IF NOT EXISTS lost (
	box         TEXT NOT NULL,
	incarnation TEXT NOT NULL DEFAULT '',
	device      TEXT NOT NULL,
	first       INTEGER NOT NULL,
	last        INTEGER NOT NULL,
	reason      TEXT NOT NULL,
	recorded    TEXT NOT NULL,
	PRIMARY KEY (box, incarnation, device, first)
);
CREATE TABLE IF NOT EXISTS seqstate (
	box         TEXT NOT NULL,
	incarnation TEXT NOT NULL DEFAULT '',
	device      TEXT NOT NULL,
	contig      INTEGER NOT NULL,
	PRIMARY KEY (box, incarnation, device)
);
`

func stamp(t time.Time) string { return sqltime.Format(t) }

// insertReading stores a reading in tx; added is false for a duplicate.
func insertReading(tx *txq, j *job) (added bool, err error) {
	row := j.row
	if len(row) != readingColumns {
		row = readingRow(j, nil)
	}
	res, err := tx.exec(insertReadingsText[0], row...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// insertReadings stores many readings in a few statements and marks each
// job added or not (a duplicate).
//
// SQLite gives each new row the id after the table's largest, and the
// writer is the only one, so a statement that stored all its rows (a
// duplicate is rare: a resend after a lost PUBACK) and whose last row got
// the id after the batch's last needs no answer but its count: its rows
// are the ids in between, in order. One that did not is asked which rows
// it stored (storedOf). RETURNING the keys of the new rows, as before,
// cost a row handed back to Go and three strings for every reading stored;
// naming the ids in the insert, as before too, cost a statement journal
// (below).
func insertReadings(tx *txq, jobs []*job) error {
	if len(jobs) == 0 {
		return nil
	}
	last, err := maxOf(tx, `SELECT COALESCE(MAX(id), 0) FROM readings`)
	if err != nil {
		return err
	}
	// Each statement holds a power of two of rows, at most 64, so that a
	// handful of texts are prepared once and kept (writerStmts), whatever
	// the batch's size.
	const chunk = 64
	for len(jobs) > 0 {
		size := chunk
		for size > len(jobs) {
			size /= 2
		}
		part := jobs[:size]
		jobs = jobs[size:]
		args := make([]any, 0, 9*len(part))
		for _, j := range part {
			if len(j.row) == readingColumns {
				args = append(args, j.row...)
			} else {
				args = readingRow(j, args)
			}
		}
		res, err := tx.exec(insertReadingsText[bits.TrailingZeros(uint(size))], args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == int64(len(part)) {
			if id, err := res.LastInsertId(); err == nil && id == last+n {
				for i, j := range part {
					j.added, j.rowid = true, last+1+int64(i)
				}
				last = id
				continue
			}
		}
		if err := storedOf(tx, part, last, n); err != nil {
			return err
		}
		last += n
	}
	return nil
}

// storedOf marks added the jobs of part whose rows the statement stored
// (n rows, every id after the table's largest before it, after), each
// with its row's id; the others are duplicates, and name no row. The
// first of two jobs of one key in part is the one stored. A job whose
// row is not there and whose key is not stored either was skipped for
// another reason (the insert ignores every conflict): an error, which
// sends the batch job by job, never a reading taken for a duplicate.
func storedOf(tx *txq, part []*job, after, n int64) error {
	rows, err := tx.query(`SELECT id, box, incarnation, device, seq FROM readings WHERE id > ?`, after)
	if err != nil {
		return err
	}
	defer rows.Close()
	stored := make(map[contract.ReadingRef]int64, n)
	for rows.Next() {
		var id int64
		var ref contract.ReadingRef
		if err := rows.Scan(&id, &ref.Box, &ref.Incarnation, &ref.Device, &ref.Seq); err != nil {
			return err
		}
		stored[ref] = id
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	if int64(len(stored)) != n {
		return fmt.Errorf("the insert stored %d readings, %d found after id %d", n, len(stored), after)
	}
	for _, j := range part {
		if id, ok := stored[j.ref]; ok {
			j.added, j.rowid = true, id
			delete(stored, j.ref)
			continue
		}
		j.added, j.rowid = false, 0
		var n int
		if err := tx.tx.QueryRow(`SELECT COUNT(*) FROM readings WHERE box=? AND incarnation=? AND device=? AND seq=?`,
			j.ref.Box, j.ref.Incarnation, j.ref.Device, j.ref.Seq).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("reading %s/%s/%s#%d neither stored nor there before", j.ref.Box, j.ref.Incarnation, j.ref.Device, j.ref.Seq)
		}
	}
	return nil
}

// maxOf is the one integer a query such as SELECT COALESCE(MAX(id), 0)
// gives, read in tx.
func maxOf(tx *txq, q string) (int64, error) {
	rows, err := tx.query(q)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var last int64
	if rows.Next() {
		if err := rows.Scan(&last); err != nil {
			return 0, err
		}
	}
	return last, rows.Err()
}

// readingColumns is how many values insertReadingsSQL binds for a reading.
const readingColumns = 9

// readingRow appends j's values in insertReadingsSQL's column order.
func readingRow(j *job, row []any) []any {
	return append(row, j.ref.Box, j.ref.Incarnation, j.ref.Device, j.ref.Seq, j.readingKind, stamp(j.origin), stamp(j.received), j.quality, j.body)
}

// insertReadingsText[k] inserts 1<<k readings, duplicates skipped (built once: it is the same text for every batch).
var insertReadingsText = func() (t [7]string) {
	for k := range t {
		t[k] = insertReadingsSQL(1 << k)
	}
	return t
}()

// insertReadingsSQL is the insert of n readings; a reading already stored
// (its key) is skipped. OR IGNORE skips a row that breaks any constraint,
// and the ids are SQLite's own, so that the statement can never fail
// halfway: one that could (a NULL refused; an id given, which SQLite
// checks is an integer) has SQLite copy every page it touches into a
// statement journal first, to undo itself alone, and a batch's rows touch
// a leaf of the key for every box. storedOf tells a duplicate from a row
// skipped for any other reason.
func insertReadingsSQL(n int) string {
	return `INSERT OR IGNORE INTO readings(box, incarnation, device, seq, kind, origin, received, quality, body) VALUES ` +
		valuesSQL(n, readingColumns)
}

// chunked holds a statement's text for 1, 2, 4 … 32 rows, so that a batch
// of any size runs in a few texts prepared once and kept (writerStmts),
// and no statement binds more than a few hundred parameters (modernc
// binds in time quadratic to their number).
type chunked [6]string

func chunkedSQL(build func(rows int) string) (c chunked) {
	for k := range c {
		c[k] = build(1 << k)
	}
	return c
}

// each calls f over [0, n) in consecutive parts of a power-of-two size,
// largest first, with the text for that size.
func (c *chunked) each(n int, f func(from, to int, text string) error) error {
	for from := 0; from < n; {
		k := min(bits.Len(uint(n-from))-1, len(c)-1)
		if err := f(from, from+1<<k, c[k]); err != nil {
			return err
		}
		from += 1 << k
	}
	return nil
}

// valuesSQL is n rows of cols placeholders: (?,?),(?,?)…
func valuesSQL(n, cols int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	return strings.TrimSuffix(strings.Repeat(row+",", n), ",")
}

// countActivity adds stored readings to the per-device, per-hour counts.
func countActivity(tx *txq, jobs []*job) error {
	// The hour as a number here, formatted once per device below: a
	// batch holds many readings of each device and hour.
	type key struct {
		box, device string
		hour        int64 // Unix seconds, a multiple of 3600
	}
	type agg struct {
		n    int
		last time.Time
	}
	m := make(map[key]*agg, len(jobs))
	var order []key
	for _, j := range jobs {
		if j.kind != jobReading || !j.added {
			continue
		}
		k := key{j.ref.Box, j.ref.Device, j.received.Truncate(time.Hour).Unix()}
		a := m[k]
		if a == nil {
			a = &agg{}
			m[k] = a
			order = append(order, k)
		}
		a.n++
		if j.received.After(a.last) {
			a.last = j.received
		}
	}
	// One statement for up to 32 devices: a batch from 200 boxes holds
	// hundreds of devices.
	var hour int64
	var hourText string // a batch's readings are of one hour, or two
	return countActivityText.each(len(order), func(from, to int, text string) error {
		args := make([]any, 0, 5*(to-from))
		for _, k := range order[from:to] {
			a := m[k]
			if hourText == "" || k.hour != hour {
				hour, hourText = k.hour, stamp(time.Unix(k.hour, 0))
			}
			args = append(args, k.box, k.device, hourText, a.n, stamp(a.last))
		}
		_, err := tx.exec(text, args...)
		return err
	})
}

var countActivityText = chunkedSQL(func(n int) string {
	return `INSERT INTO activity(box, device, hour, n, last) VALUES ` + valuesSQL(n, 5) +
		` ON CONFLICT(hour, box, device) DO UPDATE SET n = n + excluded.n, last = max(last, excluded.last)`
})

func insertRefusal(tx *txq, j *job) error {
	_, err := tx.exec(`INSERT OR IGNORE INTO refused(box, incarnation, device, seq, reason, size, received) VALUES (?,?,?,?,?,?,?)`,
		j.ref.Box, j.ref.Incarnation, j.ref.Device, j.ref.Seq, j.reason, j.size, stamp(j.received))
	return err
}

func insertIncarnation(tx *txq, box, inc string, at time.Time) (bool, error) {
	res, err := tx.exec(`INSERT OR IGNORE INTO incarnations(box, incarnation, first_seen) VALUES (?,?,?)`, box, inc, stamp(at))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// insertAlert stores a new alert, its "raised" log entry, and marks the
// readings behind it kept. seq is 0 when the alert was already there.
func insertAlert(tx *txq, a contract.Alert) (seq int64, err error) {
	body, _ := json.Marshal(a)
	raised := stamp(a.Raised)
	res, err := tx.exec(`INSERT OR IGNORE INTO alerts(id, box, device, rule, severity, state, raised, body) VALUES (?,?,?,?,?,?,?,?)`,
		a.ID, a.Box, a.Device, a.Rule, a.Severity, a.State, raised, string(body))
	if err != nil {
		return 0, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, nil
	}
	for _, r := range a.Readings {
		if _, err := tx.exec(markAlertedByKeySQL, r.Box, r.Incarnation, r.Device, r.Seq); err != nil {
			return 0, err
		}
	}
	res, err = tx.exec(`INSERT INTO alert_log(alert_id, action, time) VALUES (?, 'raised', ?)`, a.ID, raised)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// markAlertedByKeySQL marks the reading of a key behind an alert.
const markAlertedByKeySQL = `UPDATE readings SET alerted = 1 WHERE box=? AND incarnation=? AND device=? AND seq=?`

// logAlertChange records a repeat or a cleared condition raised by the rules.
func logAlertChange(tx *txq, c *events.Change) error {
	var err error
	when := stamp(c.Time)
	switch c.Action {
	case "repeated":
		_, err = tx.exec(`UPDATE alerts SET repeats = repeats + 1 WHERE id = ?`, c.AlertID)
	case "cleared":
		_, err = tx.exec(`UPDATE alerts SET cleared_at = ? WHERE id = ?`, when, c.AlertID)
	}
	if err != nil {
		return err
	}
	ref := ""
	if c.Ref != nil {
		b, _ := json.Marshal(c.Ref)
		ref = string(b)
	}
	res, err := tx.exec(`INSERT INTO alert_log(alert_id, action, user, role, note, time, ref) VALUES (?,?,?,?,?,?,?)`,
		c.AlertID, c.Action, c.User, c.Role, c.Note, when, ref)
	if err != nil {
		return err
	}
	c.Seq, err = res.LastInsertId()
	return err
}

// addAlert stores one alert outside ingest (tests, tools).
func (s *store) addAlert(a contract.Alert) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := insertAlert(s.in(tx), a); err != nil {
		return err
	}
	return tx.Commit()
}

// recentReadings returns the newest readings' envelopes, newest first
// (rowids follow the commits).
func (s *store) recentReadings(ctx context.Context, limit int) ([]json.RawMessage, error) {
	return s.bodies(ctx, `SELECT body FROM readings ORDER BY id DESC LIMIT ?`, limit)
}

func (s *store) recentAlerts(ctx context.Context, limit int) ([]json.RawMessage, error) {
	return s.bodies(ctx, `SELECT body FROM alerts ORDER BY raised DESC LIMIT ?`, limit)
}

func (s *store) bodies(ctx context.Context, q string, args ...any) ([]json.RawMessage, error) {
	rows, err := s.rd.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []json.RawMessage{}
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		out = append(out, json.RawMessage(b))
	}
	return out, rows.Err()
}

func (s *store) close() error {
	s.ckpt.stop()
	s.wal.close()
	s.stmts.close()
	s.seqStmts.close()
	s.rd.Close()
	return s.db.Close()
}

func (s *store) addLost(k devKey, first, last uint64, reason string) error {
	_, err := s.db.Exec(`INSERT OR REPLACE INTO lost(box, incarnation, device, first, last, reason, recorded) VALUES (?,?,?,?,?,?,?)`,
		k.box, k.incarnation, k.device, first, last, reason, stamp(time.Now()))
	return err
}

const saveContigSQL = `INSERT INTO seqstate(box, incarnation, device, contig) VALUES (?,?,?,?) ON CONFLICT(box, incarnation, device) DO UPDATE SET contig = max(contig, excluded.contig)`

func (s *store) saveContig(k devKey, contig uint64) error {
	_, err := s.db.Exec(saveContigSQL, k.box, k.incarnation, k.device, contig)
	return err
}

// saveContigs saves many marks in one transaction: each alone was a
// commit of its own, with its own sync, on the writer's only connection,
// and the marks of hundreds of devices that moved since the last save cost
// hundreds of syncs every few seconds, each holding the group commit up.
func (s *store) saveContigs(marks map[devKey]uint64) error {
	if len(marks) == 0 {
		return nil
	}
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.Prepare(saveContigSQL)
	if err != nil {
		return err
	}
	defer st.Close()
	for k, c := range marks {
		if _, err := st.Exec(k.box, k.incarnation, k.device, c); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// contiguous is the highest seq of a device below which nothing is
// missing: from the saved mark, over the stored and refused readings that
// follow it without a hole.
func (s *store) contiguous(k devKey) uint64 {
	var base uint64
	if rows, err := s.seqStmts.query(s.rd, `SELECT contig FROM seqstate WHERE box=? AND incarnation=? AND device=?`, k.box, k.incarnation, k.device); err == nil {
		if rows.Next() {
			rows.Scan(&base)
		}
		rows.Close()
	}
	rows, err := s.seqStmts.query(s.rd, `SELECT seq FROM readings WHERE box=?1 AND incarnation=?2 AND device=?3 AND seq > ?4
		UNION SELECT seq FROM refused WHERE box=?1 AND incarnation=?2 AND device=?3 AND seq > ?4 ORDER BY seq`,
		k.box, k.incarnation, k.device, base)
	if err != nil {
		return base
	}
	defer rows.Close()
	for rows.Next() {
		var seq uint64
		if rows.Scan(&seq) != nil || seq != base+1 {
			break
		}
		base = seq
	}
	return base
}

// Lost is a range of a device's readings the hub will never have.
type Lost struct {
	Box, Incarnation, Device string
	First, Last              uint64
	Reason                   string
}

// LostReadings lists recorded losses (for tests and the API).
func (h *Hub) LostReadings() ([]Lost, error) {
	rows, err := h.store.rd.Query(`SELECT box, incarnation, device, first, last, reason FROM lost ORDER BY box, incarnation, device, first`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Lost
	for rows.Next() {
		var l Lost
		if err := rows.Scan(&l.Box, &l.Incarnation, &l.Device, &l.First, &l.Last, &l.Reason); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// checkpointer copies committed WAL frames into the database file from a
// connection of its own, so that no commit waits for a checkpoint. A
// PASSIVE checkpoint takes no lock a writer or reader needs; what it
// cannot copy yet (a reader still sees it) waits for its next turn.
// Durability does not depend on it: a reading is on disk once its
// transaction's WAL frames are synced.
//
// The WAL starts over only when a write transaction begins with every
// frame copied. Under a steady stream of batches that never happens by
// itself: each batch begins as the one before commits, while the frames
// the checkpointer has not reached yet are still there. The WAL then grew
// to the writer's backstop, whose checkpoint in the commit copied half a
// second of frames and synced them: 150 ms and more with every box's
// PUBACK waiting, about every second at full load. So once the WAL is
// past restartAt frames, the checkpointer runs again at once until a run
// finds little left, and asks for the last few frames to be copied
// between two batches (letWALStartOver, on the writer's goroutine), after
// which the next batch writes the WAL from its start.
type checkpointer struct {
	// timings, when set, is told when each checkpoint ran (the benchmarks
	// print it beside the commits').
	timings atomic.Pointer[func(start time.Time, took time.Duration)]
	db      *sql.DB
	// restartAt is the WAL's length, in frames, past which it is made to
	// start over; the writer's own backstop is four times as long.
	restartAt  atomic.Int64
	restartDue atomic.Bool  // set here, taken by letWALStartOver
	every      atomic.Int64 // time.Duration between runs
	quit       chan struct{}
	done       chan struct{}
}

// walRestartFrames is 64 MiB of 4 KiB pages: at a station's full load
// about a second of commits, and a WAL short enough to replay quickly
// after a crash.
const walRestartFrames = 16384

func startCheckpointer(db *sql.DB, every time.Duration) *checkpointer {
	c := &checkpointer{db: db, quit: make(chan struct{}), done: make(chan struct{})}
	c.restartAt.Store(walRestartFrames)
	c.every.Store(int64(every))
	go func() {
		defer close(c.done)
		t := time.NewTimer(every)
		defer t.Stop()
		for {
			select {
			case <-c.quit:
				return
			case <-t.C:
				c.catchUp()
				t.Reset(time.Duration(c.every.Load()))
			}
		}
	}()
	return c
}

// catchUp checkpoints, and once the WAL is long, again at once: each run
// copies what was committed during the one before, down to about a batch.
// Once a run copied at most an eighth of restartAt, or no less than the
// run before it, the rest is left to letWALStartOver. A busy or failed
// checkpoint is tried again next tick; the writer's backstop bounds the
// WAL meanwhile.
func (c *checkpointer) catchUp() {
	base, last := int64(-1), int64(-1) // frames copied before this run; by the run before
	for range 16 {
		start := time.Now()
		var busy, frames, copied int64
		err := c.db.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
		if f := c.timings.Load(); f != nil {
			(*f)(start, time.Since(start))
		}
		at := c.restartAt.Load()
		if err != nil || busy != 0 || frames < at {
			return
		}
		// Both counts are from the WAL's start: this run copied the
		// difference from what was copied when it began.
		if base >= 0 {
			n := copied - base
			if n <= at/8 || (last >= 0 && n >= last) {
				c.restartDue.Store(true)
				return
			}
			last = n
		}
		base = copied
		select {
		case <-c.quit:
			return
		default:
		}
	}
	c.restartDue.Store(true)
}

// letWALStartOver copies, between two batches, what the checkpointer left
// once it asked for it: the next batch then begins with every frame
// copied and writes the WAL from its start. A checkpoint that is busy (a
// reader still sees old frames) or fails changes nothing: the WAL goes on
// growing, the checkpointer asks again, and the backstop bounds it.
func (s *store) letWALStartOver() {
	if s.ckpt.restartDue.Swap(false) {
		s.db.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
	}
}

func (c *checkpointer) stop() {
	close(c.quit)
	<-c.done
	c.db.Close()
}
