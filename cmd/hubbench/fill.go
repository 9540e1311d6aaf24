package main

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite"

	"github.com/kordon/kordon/hub"
	"github.com/kordon/kordon/internal/logging"
)

// fill makes (once) a hub database holding n routine readings of the
// benchmark's boxes, spread over the last 30 days (inside the default
// retention), under an incarnation the simulated boxes never use.
func fill(dir string, n int, creds []cred) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	h, err := hub.New(&hub.Config{Crossing: crossing, MQTT: "127.0.0.1:0", DataDir: dir}, logging.Discard())
	if err != nil {
		return err // makes the tables
	}
	h.Close()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "hub.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=cache_size(-262144)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var have int
	if err := db.QueryRow(`SELECT COUNT(*) FROM readings`).Scan(&have); err != nil {
		return err
	}
	// The last two days' activity counts, as the hub keeps them.
	backfill := func() error {
		_, err := db.Exec(`INSERT OR IGNORE INTO activity(box, device, hour, n, last)
			SELECT box, device, substr(received, 1, 13) || ':00:00Z', COUNT(*), MAX(received) FROM readings
			WHERE received >= ? GROUP BY box, device, substr(received, 1, 13)`, time.Now().Add(-48*time.Hour).UTC().Format(time.RFC3339Nano))
		return err
	}
	if have >= n {
		fmt.Printf("  %d readings already stored\n", have)
		return backfill()
	}
	body := `{"schema":"kordon.reading/2","crossing":"bench","box":"box-001","device":"thermo1","kind":"temperature","driver":"calex","incarnation":"fill0000","seq":1,"origin":"2026-11-01T09:00:00Z","clock":"synced","quality":{"status":"ok"},"payload":{"sensor":"lane-1","model":"calex-pyrousb","celsius":36.5,"measured_celsius":36.5,"housing_celsius":25,"emissivity":0.98,"fever":false,"fever_threshold":37.5,"events":[],"cause":"change"}}`
	boxes := len(creds)
	start := time.Now()
	span := 30 * 24 * time.Hour
	first := time.Now().Add(-span)
	const step = 250000
	for done := have; done < n; done += step {
		k := min(step, n-done)
		// Rows in arrival order, boxes interleaved, as a crossing writes them.
		_, err := db.Exec(`WITH RECURSIVE c(i) AS (SELECT ? UNION ALL SELECT i+1 FROM c WHERE i < ?)
			INSERT INTO readings(box, incarnation, device, seq, kind, origin, received, quality, body)
			SELECT printf('box-%03d', i % ?3 + 1), 'fill0000', 'thermo1', i / ?3 + 1, 'temperature',
				strftime('%Y-%m-%dT%H:%M:%fZ', ?4 + i * ?5, 'unixepoch'), strftime('%Y-%m-%dT%H:%M:%fZ', ?4 + i * ?5, 'unixepoch'), 'ok', ?6 FROM c`,
			done, done+k-1, boxes, float64(first.Unix()), span.Seconds()/float64(n), body)
		if err != nil {
			return fmt.Errorf("fill: %w", err)
		}
		fmt.Printf("\r  filling: %d of %d readings (%s)", done+k, n, time.Since(start).Round(time.Second))
	}
	fmt.Println()
	if err := backfill(); err != nil {
		return err
	}
	_, err = db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// queries times the dashboard's heaviest reads on the filled database.
func queries(dir string) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "hub.db")+"?_pragma=query_only(1)")
	if err != nil {
		fmt.Println("  queries:", err)
		return
	}
	defer db.Close()
	since := time.Now().Add(-24 * time.Hour).UTC().Format(time.RFC3339Nano)
	for _, q := range []struct{ name, sql string }{
		{"recent readings (/api/readings)", `SELECT body FROM readings ORDER BY id DESC LIMIT 100`},
		{"activity per device, 24 h (box health)", `SELECT box, device, MAX(last), SUM(n) FROM activity WHERE hour >= '` + since + `' GROUP BY box, device`},
		{"one reading by key (alert detail)", `SELECT body FROM readings WHERE box = 'box-007' AND incarnation = 'fill0000' AND device = 'thermo1' AND seq = 1234`},
		{"retention step (oldest 500 of a kind)", `SELECT id FROM readings WHERE kind = 'temperature' AND received < '2000-01-01' AND alerted = 0 ORDER BY kind, received LIMIT 500`},
	} {
		start := time.Now()
		rows, err := db.Query(q.sql)
		n := 0
		if err == nil {
			for rows.Next() {
				n++
			}
			rows.Close()
		}
		fmt.Printf("  %-42s %8s (%d rows) %v\n", q.name, time.Since(start).Round(10*time.Microsecond), n, errOrEmpty(err))
	}
}

func errOrEmpty(err error) string {
	if err != nil {
		return err.Error()
	}
	return ""
}
