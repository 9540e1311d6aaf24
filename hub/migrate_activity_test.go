package hub

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMigrateActivityWithoutRowid: a database whose activity table has a
// rowid (hubd before it kept the counts in one B-tree) keeps every count,
// and the counts of a commit after the start add to them.
func TestMigrateActivityWithoutRowid(t *testing.T) {
	dir := t.TempDir()
	old := strings.Replace(schemaSQL, "PRIMARY KEY (hour, box, device)\n) WITHOUT ROWID;", "PRIMARY KEY (hour, box, device)\n);", 1)
	if old == schemaSQL {
		t.Fatal("the old activity table is not made from the current schema any more: update this test")
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "hub.db")+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	hour := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, q := range []string{old,
		`INSERT INTO activity(box, device, hour, n, last) VALUES ('b1', 'd1', '` + stamp(hour) + `', 5, '` + stamp(hour.Add(time.Minute)) + `')`,
		`INSERT INTO activity(box, device, hour, n, last) VALUES ('b2', 'd1', '` + stamp(hour) + `', 2, '` + stamp(hour.Add(2*time.Minute)) + `')`,
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
		st.db.QueryRow(`SELECT sql FROM sqlite_schema WHERE name = 'activity'`).Scan(&create)
		if !strings.Contains(strings.ToUpper(create), "WITHOUT ROWID") {
			t.Fatalf("start %d: activity still %s", round+1, create)
		}
		if round == 0 {
			tx, err := st.db.Begin()
			if err != nil {
				t.Fatal(err)
			}
			j := &job{kind: jobReading, added: true, received: hour.Add(3 * time.Minute)}
			j.ref.Box, j.ref.Device = "b1", "d1"
			if err := countActivity(st.in(tx), []*job{j}); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		rows, err := st.db.Query(`SELECT box, device, hour, n, last FROM activity ORDER BY box`)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var box, device, h, last string
			var n int64
			rows.Scan(&box, &device, &h, &n, &last)
			got = append(got, strings.Join([]string{box, device, h, itoa(n), last}, "|"))
		}
		rows.Close()
		want := []string{
			"b1|d1|" + stamp(hour) + "|6|" + stamp(hour.Add(3*time.Minute)),
			"b2|d1|" + stamp(hour) + "|2|" + stamp(hour.Add(2*time.Minute)),
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("start %d: activity\n%s\nwant\n%s", round+1, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		st.close()
	}
}
