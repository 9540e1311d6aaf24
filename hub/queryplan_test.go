package hub

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestReadQueriesUseIndexes: the queries that read the readings table
// (dashboard, BLO counts, retention, gaps, alert detail) each seek an
// index or read the newest rowids; none scans the table or sorts it. The
// readings table has a key and one index only (every index is written for
// every reading), so this is what keeps them fast at 10M readings.
func TestReadQueriesUseIndexes(t *testing.T) {
	st, err := openStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	for _, q := range []struct {
		name, query string
		want        []string // each in the plan
	}{
		{"recent readings", `SELECT body FROM readings ORDER BY id DESC LIMIT 100`, []string{"SCAN readings"}},
		{"reading by key", `SELECT body FROM readings WHERE box = 'b' AND incarnation = 'i' AND device = 'd' AND seq = 1`,
			[]string{"SEARCH readings USING INDEX readings_key"}},
		{"retention step", `SELECT id FROM readings WHERE kind = 'temperature' AND received < '2000' AND alerted = 0 ORDER BY kind, received LIMIT 500`,
			[]string{"SEARCH readings USING INDEX readings_kind (kind=? AND received<?)"}},
		{"contiguous (gaps)", `SELECT seq FROM readings WHERE box='b' AND incarnation='i' AND device='d' AND seq > 5`,
			[]string{"SEARCH readings USING COVERING INDEX readings_key (box=? AND incarnation=? AND device=? AND seq>?)"}},
		{"counts per kind (BLO)", bloCountsSQL,
			[]string{"SEARCH readings USING COVERING INDEX readings_kind (kind>?)", "SEARCH r USING COVERING INDEX readings_kind (kind=? AND received>? AND received<?)"}},
	} {
		rows, err := st.rd.Query(`EXPLAIN QUERY PLAN `+q.query, "2026-01-01", "2026-01-02")
		if err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		all := strings.Join(plan, "\n")
		for _, w := range q.want {
			if !strings.Contains(all, w) {
				t.Errorf("%s: plan lacks %q:\n%s", q.name, w, all)
			}
		}
		for _, bad := range []string{"USE TEMP B-TREE FOR ORDER BY", "SCAN readings USING"} {
			if strings.Contains(all, bad) {
				t.Errorf("%s: plan has %q:\n%s", q.name, bad, all)
			}
		}
		if strings.Contains(all, "SCAN readings") && q.name != "recent readings" {
			t.Errorf("%s: scans the readings table:\n%s", q.name, all)
		}
	}
}

// TestBLOCountsPerKind: the counts per kind of a time range, as the BLO
// reports them, from readings of several kinds inside and outside it.
func TestBLOCountsPerKind(t *testing.T) {
	st, err := openStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i, r := range []struct {
		kind string
		at   time.Duration
	}{
		{"temperature", 0}, {"temperature", time.Minute}, {"document", 2 * time.Minute},
		{"barcode", -time.Hour}, {"temperature", 2 * time.Hour}, {"radiation", 30 * time.Minute},
	} {
		if _, err := st.db.Exec(`INSERT INTO readings(box, device, seq, kind, origin, received, quality, body) VALUES ('b','d',?,?,?,?,'ok','{}')`,
			i+1, r.kind, stamp(base), stamp(base.Add(r.at))); err != nil {
			t.Fatal(err)
		}
	}
	got, err := bloSource{db: st.rd}.Counts(context.Background(), base, base.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"temperature": 2, "document": 1, "radiation": 1}
	if len(got) != len(want) {
		t.Fatalf("counts %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("counts %v, want %v", got, want)
		}
	}
}

// TestWriterStatementsKept: a statement the writer runs is prepared for its
// first transaction, then kept, and later transactions run the kept one.
func TestWriterStatementsKept(t *testing.T) {
	st, err := openStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	const text = `INSERT OR IGNORE INTO incarnations(box, incarnation, first_seen) VALUES (?,?,?)`
	run := func(inc string) {
		tx, err := st.db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := st.in(tx).exec(text, "b", inc, "now"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	run("i1")
	if st.stmts.ready[text] != nil {
		t.Fatal("kept before the first transaction ended")
	}
	st.stmts.prepareWanted()
	kept := st.stmts.lookup(text)
	if kept == nil {
		t.Fatal("not kept after its first transaction")
	}
	run("i2")
	run("i3")
	if st.stmts.lookup(text) != kept {
		t.Error("a later transaction replaced the kept statement")
	}
	var n int
	st.db.QueryRow(`SELECT COUNT(*) FROM incarnations`).Scan(&n)
	if n != 3 {
		t.Errorf("%d rows, want 3", n)
	}
}
