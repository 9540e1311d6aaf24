package hub

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // pure Go: hubd stays a static binary

	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/reading"
)

// store keeps readings and alerts in SQLite (WAL). Readings are keyed by
// (box, device, seq), which makes QoS 1 redelivery idempotent.
type store struct {
	db *sql.DB
}

func openStore(dir string) (*store, error) {
	dsn := "file:" + filepath.Join(dir, "hub.db") + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1) // one writer; SQLite serialises anyway
	if _, err := db.Exec(schemaSQL + seqSQL); err != nil {
		db.Close()
		return nil, fmt.Errorf("hub db: %w", err)
	}
	if err := migrateAlerts(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("hub db: alerts columns: %w", err)
	}
	return &store{db: db}, nil
}

const schemaSQL = `
CREATE TABLE IF NOT EXISTS readings (
	box      TEXT NOT NULL,
	device   TEXT NOT NULL,
	seq      INTEGER NOT NULL,
	kind     TEXT NOT NULL,
	origin   TEXT NOT NULL,
	received TEXT NOT NULL,
	quality  TEXT NOT NULL,
	body     TEXT NOT NULL,
	PRIMARY KEY (box, device, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS readings_received ON readings(received);
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
-- store and misses nothing (hub/dashstore.go).
CREATE TABLE IF NOT EXISTS alert_log (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT,
	alert_id TEXT NOT NULL,
	action   TEXT NOT NULL, -- raised | acknowledged | resolved | repeated | cleared
	user     TEXT NOT NULL DEFAULT '',
	role     TEXT NOT NULL DEFAULT '',
	note     TEXT NOT NULL DEFAULT '',
	time     TEXT NOT NULL,
	ref      TEXT NOT NULL DEFAULT '' -- reading behind a repeat or clear
);
CREATE INDEX IF NOT EXISTS alert_log_alert ON alert_log(alert_id);
` + commandsSQL

// alertColumns are added to an alerts table made before they existed.
var alertColumns = []struct{ name, def string }{
	{"repeats", "INTEGER NOT NULL DEFAULT 0"},
	{"cleared_at", "TEXT NOT NULL DEFAULT ''"},
	{"ack_by", "TEXT NOT NULL DEFAULT ''"},
	{"ack_at", "TEXT NOT NULL DEFAULT ''"},
	{"ack_note", "TEXT NOT NULL DEFAULT ''"},
	{"resolved_by", "TEXT NOT NULL DEFAULT ''"},
	{"resolved_at", "TEXT NOT NULL DEFAULT ''"},
	{"resolved_note", "TEXT NOT NULL DEFAULT ''"},
}

func migrateAlerts(db *sql.DB) error {
	have := map[string]bool{}
	rows, err := db.Query(`SELECT name FROM pragma_table_info('alerts')`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		have[n] = true
	}
	rows.Close()
	for _, c := range alertColumns {
		if !have[c.name] {
			if _, err := db.Exec(`ALTER TABLE alerts ADD COLUMN ` + c.name + ` ` + c.def); err != nil {
				return err
			}
		}
	}
	return nil
}

// addReading stores a reading; added is false when (box, device, seq) was already there.
func (s *store) addReading(r *reading.Reading, body []byte, received time.Time) (added bool, err error) {
	res, err := s.db.Exec(`INSERT OR IGNORE INTO readings(box, device, seq, kind, origin, received, quality, body) VALUES (?,?,?,?,?,?,?,?)`,
		r.Box, r.Device, r.Seq, r.Kind(), r.Origin.UTC().Format(time.RFC3339Nano), received.UTC().Format(time.RFC3339Nano), string(r.Quality.Status), string(body))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// addAlert stores a new alert and its "raised" log entry together.
func (s *store) addAlert(a contract.Alert) error {
	body, _ := json.Marshal(a)
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	raised := a.Raised.UTC().Format(time.RFC3339Nano)
	res, err := tx.Exec(`INSERT OR IGNORE INTO alerts(id, box, device, rule, severity, state, raised, body) VALUES (?,?,?,?,?,?,?,?)`,
		a.ID, a.Box, a.Device, a.Rule, a.Severity, a.State, raised, string(body))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		if _, err := tx.Exec(`INSERT INTO alert_log(alert_id, action, time) VALUES (?, 'raised', ?)`, a.ID, raised); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// recentReadings returns the newest readings' envelopes, newest first.
func (s *store) recentReadings(ctx context.Context, limit int) ([]json.RawMessage, error) {
	return s.bodies(ctx, `SELECT body FROM readings ORDER BY received DESC LIMIT ?`, limit)
}

func (s *store) recentAlerts(ctx context.Context, limit int) ([]json.RawMessage, error) {
	return s.bodies(ctx, `SELECT body FROM alerts ORDER BY raised DESC LIMIT ?`, limit)
}

func (s *store) bodies(ctx context.Context, q string, args ...any) ([]json.RawMessage, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
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

func (s *store) close() error { return s.db.Close() }

// Sequence bookkeeping (gaps.go): lost ranges the boxes reported, and the
// contiguous high-water mark saved whenever a loss is recorded, so a
// restarted hub does not ask again for what is known to be gone.
const seqSQL = `
CREATE TABLE IF NOT EXISTS lost (
	box      TEXT NOT NULL,
	device   TEXT NOT NULL,
	first    INTEGER NOT NULL,
	last     INTEGER NOT NULL,
	reason   TEXT NOT NULL,
	recorded TEXT NOT NULL,
	PRIMARY KEY (box, device, first)
);
CREATE TABLE IF NOT EXISTS seqstate (
	box    TEXT NOT NULL,
	device TEXT NOT NULL,
	contig INTEGER NOT NULL,
	PRIMARY KEY (box, device)
);
`

func (s *store) addLost(box, device string, first, last uint64, reason string) error {
	_, err := s.db.Exec(`INSERT OR REPLACE INTO lost(box, device, first, last, reason, recorded) VALUES (?,?,?,?,?,?)`,
		box, device, first, last, reason, time.Now().UTC().Format(time.RFC3339Nano))
	return err
}

func (s *store) saveContig(box, device string, contig uint64) {
	s.db.Exec(`INSERT INTO seqstate(box, device, contig) VALUES (?,?,?) ON CONFLICT(box, device) DO UPDATE SET contig = max(contig, excluded.contig)`, box, device, contig)
}

// contiguous is the highest seq of a device below which nothing is missing:
// from the saved mark, over the run of stored readings that follows it.
func (s *store) contiguous(box, device string) uint64 {
	var base uint64
	s.db.QueryRow(`SELECT contig FROM seqstate WHERE box=? AND device=?`, box, device).Scan(&base)
	var n int
	s.db.QueryRow(`SELECT COUNT(*) FROM readings WHERE box=? AND device=? AND seq=?`, box, device, base+1).Scan(&n)
	if n == 0 {
		return base
	}
	var end uint64
	err := s.db.QueryRow(`SELECT r.seq FROM readings r WHERE r.box=? AND r.device=? AND r.seq > ?
		AND NOT EXISTS (SELECT 1 FROM readings x WHERE x.box=r.box AND x.device=r.device AND x.seq=r.seq+1)
		ORDER BY r.seq LIMIT 1`, box, device, base).Scan(&end)
	if err != nil {
		return base
	}
	return end
}

// Lost is a range of a device's readings the hub will never have.
type Lost struct {
	Box, Device string
	First, Last uint64
	Reason      string
}

// LostReadings lists recorded losses (for tests and the API).
func (h *Hub) LostReadings() ([]Lost, error) {
	rows, err := h.store.db.Query(`SELECT box, device, first, last, reason FROM lost ORDER BY box, device, first`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Lost
	for rows.Next() {
		var l Lost
		if err := rows.Scan(&l.Box, &l.Device, &l.First, &l.Last, &l.Reason); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}
