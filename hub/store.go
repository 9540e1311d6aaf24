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
	if _, err := db.Exec(schemaSQL); err != nil {
		db.Close()
		return nil, fmt.Errorf("hub db: %w", err)
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
`

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

func (s *store) addAlert(a contract.Alert) error {
	body, _ := json.Marshal(a)
	_, err := s.db.Exec(`INSERT OR IGNORE INTO alerts(id, box, device, rule, severity, state, raised, body) VALUES (?,?,?,?,?,?,?,?)`,
		a.ID, a.Box, a.Device, a.Rule, a.Severity, a.State, a.Raised.UTC().Format(time.RFC3339Nano), string(body))
	return err
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
