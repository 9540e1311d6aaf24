package hub

import (
	"fmt"
	"testing"
	"time"

	"github.com/kordon/kordon/internal/logging"
)

// TestRetentionPrunesRoutineKeepsPolicy: routine readings past their age go,
// in steps of Batch; documents within their own age stay, and so does any
// reading behind an alert, however old.
func TestRetentionPrunesRoutineKeepsPolicy(t *testing.T) {
	st, err := openStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	add := func(seq int, kind string, age time.Duration, alerted int) {
		at := stamp(now.Add(-age))
		if _, err := st.db.Exec(`INSERT INTO readings(box, incarnation, device, seq, kind, origin, received, quality, alerted, body) VALUES ('b1','i1','d1',?,?,?,?,'ok',?,'{}')`,
			seq, kind, at, at, alerted); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 25; i++ {
		add(i, "temperature", 100*24*time.Hour, 0) // past the default 90 days
	}
	add(26, "temperature", 10*24*time.Hour, 0)  // young
	add(27, "temperature", 400*24*time.Hour, 1) // old, behind an alert
	add(28, "document", 100*24*time.Hour, 0)    // documents: a year
	add(29, "document", 400*24*time.Hour, 0)
	p := newPruner(st.db, RetentionConfig{Batch: 10}, []string{"document", "temperature"}, logging.Discard())
	p.now = func() time.Time { return now }
	n, err := p.round()
	if err != nil {
		t.Fatal(err)
	}
	if n != 26 {
		t.Fatalf("pruned %d, want 26 (25 old samples and the old document)", n)
	}
	var left []string
	rows, _ := st.db.Query(`SELECT seq FROM readings ORDER BY seq`)
	for rows.Next() {
		var s int
		rows.Scan(&s)
		left = append(left, fmt.Sprint(s))
	}
	rows.Close()
	if fmt.Sprint(left) != "[26 27 28]" {
		t.Fatalf("kept %v, want [26 27 28]", left)
	}
}
