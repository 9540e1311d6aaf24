package hub

import (
	"database/sql"
	"fmt"
	"strings"

	"github.com/kordon/kordon/internal/sqltime"
)

// migrate brings a database made by an older hubd to the current tables,
// in one transaction, then creates what is missing.
func migrate(db *sql.DB) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Tables keyed without the incarnation are rebuilt with it: their rows
	// are v1 readings (incarnation "").
	for _, m := range []struct{ table, create, copy string }{
		{"readings", readingsV2, `INSERT INTO readings(box, incarnation, device, seq, kind, origin, received, quality, body)
			SELECT box, '', device, seq, kind, origin, received, quality, body FROM readings_old ORDER BY received`},
		{"lost", lostV2, `INSERT INTO lost(box, incarnation, device, first, last, reason, recorded)
			SELECT box, '', device, first, last, reason, recorded FROM lost_old`},
		{"seqstate", seqstateV2, `INSERT INTO seqstate(box, incarnation, device, contig) SELECT box, '', device, contig FROM seqstate_old`},
	} {
		cols, err := columns(tx, m.table)
		if err != nil {
			return err
		}
		if len(cols) == 0 || cols["incarnation"] {
			continue
		}
		for _, q := range []string{
			`ALTER TABLE ` + m.table + ` RENAME TO ` + m.table + `_old`,
			m.create, m.copy,
			`DROP TABLE ` + m.table + `_old`, // its indexes go with it
		} {
			if _, err := tx.Exec(q); err != nil {
				return fmt.Errorf("migrate %s: %w", m.table, err)
			}
		}
	}
	if err := migrateAlertLog(tx); err != nil {
		return err
	}
	if _, err := tx.Exec(schemaSQL); err != nil {
		return err
	}
	have, err := columns(tx, "alerts")
	if err != nil {
		return err
	}
	for _, c := range alertColumns {
		if !have[c.name] {
			if _, err := tx.Exec(`ALTER TABLE alerts ADD COLUMN ` + c.name + ` ` + c.def); err != nil {
				return fmt.Errorf("alerts columns: %w", err)
			}
		}
	}
	if err := fixedWidthTimes(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// timeColumns are the stored instants, written by sqltime.Format since
// database version 1.
var timeColumns = map[string][]string{
	"readings":        {"origin", "received"},
	"alerts":          {"raised", "cleared_at", "ack_at", "resolved_at"},
	"alert_log":       {"time"},
	"activity":        {"hour", "last"},
	"refused":         {"received"},
	"incarnations":    {"first_seen"},
	"lost":            {"recorded"},
	"commands":        {"sent", "expires", "replied"},
	"evidence_access": {"time"},
}

// fixedWidthTimes rewrites the instants of a version 0 database, written
// in time.RFC3339Nano, whose text does not sort as time (sqltime), once.
func fixedWidthTimes(tx *sql.Tx) error {
	var version int
	if err := tx.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		return err
	}
	if version >= 1 {
		return nil
	}
	for table, cols := range timeColumns {
		have, err := columns(tx, table)
		if err != nil {
			return err
		}
		var set []string
		for _, c := range cols {
			if have[c] {
				set = append(set, c+" = "+sqltime.Normalize(c))
			}
		}
		if len(set) == 0 {
			continue
		}
		if _, err := tx.Exec(`UPDATE ` + table + ` SET ` + strings.Join(set, ", ")); err != nil {
			return fmt.Errorf("migrate %s times: %w", table, err)
		}
	}
	_, err := tx.Exec(`PRAGMA user_version = 1`)
	return err
}

// The tables as migrate creates them before the rest of schemaSQL (which
// repeats them with IF NOT EXISTS and adds their indexes).
const (
	readingsV2 = `CREATE TABLE readings (id INTEGER PRIMARY KEY, box TEXT NOT NULL, incarnation TEXT NOT NULL DEFAULT '',
		device TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, origin TEXT NOT NULL, received TEXT NOT NULL,
		quality TEXT NOT NULL, alerted INTEGER NOT NULL DEFAULT 0, body TEXT NOT NULL)`
	lostV2 = `CREATE TABLE lost (box TEXT NOT NULL, incarnation TEXT NOT NULL DEFAULT '', device TEXT NOT NULL,
		first INTEGER NOT NULL, last INTEGER NOT NULL, reason TEXT NOT NULL, recorded TEXT NOT NULL,
		PRIMARY KEY (box, incarnation, device, first))`
	alertLogV2 = `CREATE TABLE alert_log (seq INTEGER PRIMARY KEY, alert_id TEXT NOT NULL, action TEXT NOT NULL,
		user TEXT NOT NULL DEFAULT '', role TEXT NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '', time TEXT NOT NULL,
		ref TEXT NOT NULL DEFAULT '')`
	seqstateV2 = `CREATE TABLE seqstate (box TEXT NOT NULL, incarnation TEXT NOT NULL DEFAULT '', device TEXT NOT NULL,
		contig INTEGER NOT NULL, PRIMARY KEY (box, incarnation, device))`
)

// migrateAlertLog rebuilds an alert_log made with AUTOINCREMENT without it,
// keeping every entry's seq (the dashboard's and the uplink's resume
// points). Its rows were never deleted, so the largest seq is the one
// sqlite_sequence held, and the next entry gets the number it would have.
func migrateAlertLog(tx *sql.Tx) error {
	var create string
	err := tx.QueryRow(`SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'alert_log'`).Scan(&create)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return fmt.Errorf("migrate alert_log: %w", err)
	}
	if !strings.Contains(strings.ToUpper(create), "AUTOINCREMENT") {
		return nil
	}
	if _, err := tx.Exec(`ALTER TABLE alert_log RENAME TO alert_log_old`); err != nil {
		return fmt.Errorf("migrate alert_log: %w", err)
	}
	have, err := columns(tx, "alert_log_old")
	if err != nil {
		return err
	}
	cols := "seq, alert_id, action, time"
	for _, c := range []string{"user", "role", "note", "ref"} { // added over time, with '' for the rows before
		if have[c] {
			cols += ", " + c
		}
	}
	for _, q := range []string{
		alertLogV2,
		`INSERT INTO alert_log(` + cols + `) SELECT ` + cols + ` FROM alert_log_old ORDER BY seq`,
		`DROP TABLE alert_log_old`, // its index and its sqlite_sequence row go with it
	} {
		if _, err := tx.Exec(q); err != nil {
			return fmt.Errorf("migrate alert_log: %w", err)
		}
	}
	return nil
}

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

func columns(tx *sql.Tx, table string) (map[string]bool, error) {
	rows, err := tx.Query(`SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		have[n] = true
	}
	return have, rows.Err()
}
