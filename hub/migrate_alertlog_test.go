package hub

import (
	"database/sql"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestMigrateAlertLogWithoutAutoincrement: a database whose alert_log was
// made with AUTOINCREMENT (hubd before it wrote one page less per alert)
// keeps every entry and its seq, loses the sqlite_sequence row, and gives
// the next entry the number after the last.
func TestMigrateAlertLogWithoutAutoincrement(t *testing.T) {
	dir := t.TempDir()
	old := strings.Replace(schemaSQL, "seq      INTEGER PRIMARY KEY,", "seq      INTEGER PRIMARY KEY AUTOINCREMENT,", 1)
	if old == schemaSQL {
		t.Fatal("the old alert_log is not made from the current schema any more: update this test")
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "hub.db")+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(old); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO alert_log(alert_id, action, time) VALUES ('a1', 'raised', '2026-11-30T10:00:00Z')`,
		`INSERT INTO alert_log(alert_id, action, user, role, note, time) VALUES ('a1', 'acknowledged', 'ana', 'officer', 'seen', '2026-11-30T10:01:00Z')`,
		`INSERT INTO alert_log(seq, alert_id, action, time, ref) VALUES (41, 'a2', 'repeated', '2026-11-30T10:02:00Z', '{"box":"b"}')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	for round := range 2 { // the second start finds nothing to do
		st, err := openStore(dir)
		if err != nil {
			t.Fatalf("start %d: %v", round+1, err)
		}
		var create string
		st.db.QueryRow(`SELECT sql FROM sqlite_schema WHERE name = 'alert_log'`).Scan(&create)
		if strings.Contains(strings.ToUpper(create), "AUTOINCREMENT") {
			t.Fatalf("start %d: alert_log still %s", round+1, create)
		}
		var seqRows int
		st.db.QueryRow(`SELECT COUNT(*) FROM sqlite_sequence WHERE name LIKE 'alert_log%'`).Scan(&seqRows)
		if seqRows != 0 {
			t.Fatalf("start %d: sqlite_sequence still counts for alert_log", round+1)
		}
		var idx int
		st.db.QueryRow(`SELECT COUNT(*) FROM sqlite_schema WHERE type = 'index' AND name = 'alert_log_alert' AND tbl_name = 'alert_log'`).Scan(&idx)
		if idx != 1 {
			t.Fatalf("start %d: alert_log_alert index missing", round+1)
		}
		rows, err := st.db.Query(`SELECT seq, alert_id, action, user, note, ref FROM alert_log ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var seq int64
			var id, action, user, note, ref string
			rows.Scan(&seq, &id, &action, &user, &note, &ref)
			got = append(got, strings.Join([]string{itoa(seq), id, action, user, note, ref}, "|"))
		}
		rows.Close()
		want := []string{"1|a1|raised|||", "2|a1|acknowledged|ana|seen|", `41|a2|repeated|||{"box":"b"}`}
		if round == 1 {
			want = append(want, "42|a3|raised|||")
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("start %d: alert_log\n%s\nwant\n%s", round+1, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if round == 0 {
			res, err := st.db.Exec(`INSERT INTO alert_log(alert_id, action, time) VALUES ('a3', 'raised', '2026-12-01T10:00:00Z')`)
			if err != nil {
				t.Fatal(err)
			}
			if seq, _ := res.LastInsertId(); seq != 42 {
				t.Fatalf("the next entry after 41 got seq %d", seq)
			}
		}
		st.close()
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
