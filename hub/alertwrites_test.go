package hub

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/logging"
)

// TestBatchedAlertWritesMatchJobByJob: the fast path, which writes a
// batch's alerts, log entries and changes in a few statements, stores
// exactly what the job-by-job path stores for the same readings: the same
// alerts with the same repeats and clears, the same log entries with the
// same sequence numbers in the same order, the same readings kept, and
// tells the subscribers the same.
func TestBatchedAlertWritesMatchJobByJob(t *testing.T) {
	rules := `rules:
  - id: hot
    when: kind == "temperature" && payload.celsius > 37.5
    clear: kind == "temperature" && payload.celsius < 37
    severity: high
    summary: "hot"
  - id: warm
    when: kind == "temperature" && payload.celsius > 37
    cooldown: 1h
    severity: low
    summary: "warm"
`
	// Per batch, per box: the temperatures its readings carry (seq follows
	// on); a negative one is a resend of the reading before (a duplicate).
	batches := [][]float64{
		{36.5, 38, 38.5, -1, 37.2, 36},
		{38, 39, 36.5, 38, 38},
		{36, 37.8, -1, 38.2, 36.9},
	}
	fast, _ := bothPathsAgree(t, rules, batches, nil)
	for _, want := range []string{"log 1 ", "|repeated|", "|cleared|", "repeats=1", "cleared_at=1", "kept box-001 2"} {
		if !strings.Contains(strings.Join(fast, "\n"), want) {
			t.Errorf("the run never stored %q: the test does not cover it\n%s", want, strings.Join(fast, "\n"))
		}
	}
}

// bothPathsAgree runs the batches on the fast path and job by job, fails
// unless both stored and told the same, and returns the fast path's.
// setup, when set, runs before each batch (i is the batch's index).
func bothPathsAgree(t *testing.T, rules string, batches [][]float64, setup func(h *Hub, i int)) (stored, told []string) {
	t.Helper()
	fast, fastEvents := batchedRun(t, rules, batches, true, setup)
	slow, slowEvents := batchedRun(t, rules, batches, false, setup)
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("the fast path stored\n%s\nthe job-by-job path\n%s", strings.Join(fast, "\n"), strings.Join(slow, "\n"))
	}
	if !reflect.DeepEqual(fastEvents, slowEvents) {
		t.Fatalf("the fast path told\n%s\nthe job-by-job path\n%s", strings.Join(fastEvents, "\n"), strings.Join(slowEvents, "\n"))
	}
	return fast, fastEvents
}

// batchedRun writes the batches through the fast path or job by job, and
// returns what the store holds and what each batch's jobs tell.
func batchedRun(t *testing.T, rules string, batches [][]float64, fast bool, setup func(h *Hub, i int)) (stored, told []string) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(path, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &Config{Crossing: testCrossing, DataDir: dir, Rules: path}
	for _, b := range []string{"box-001", "box-002"} {
		cfg.Boxes = append(cfg.Boxes, BoxCreds{Box: b, PasswordHash: "$2a$04$unused"})
	}
	h, err := New(cfg, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	seqs := map[string]uint64{}
	for i, temps := range batches {
		if setup != nil {
			setup(h, i)
		}
		var jobs []*job
		for _, box := range []string{"box-001", "box-002"} {
			for _, c := range temps {
				if c >= 0 {
					seqs[box]++
				} else {
					c = -c // a resend: the same seq and payload as before
				}
				msg := strings.Replace(string(routineReading(box, "thermo1", seqs[box])), `"celsius":36.5`, fmt.Sprintf(`"celsius":%g`, c), 1)
				j := h.ingest.readingJob(box, "thermo1", packets.Packet{Payload: []byte(msg)})
				if j.kind != jobReading {
					t.Fatalf("reading refused: %s", msg)
				}
				jobs = append(jobs, j)
			}
		}
		tx, err := h.store.db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if fast {
			err = h.pipeline.ApplyAll(tx, jobs)
		} else {
			for _, j := range jobs {
				if err = h.pipeline.Apply(tx, j); err != nil {
					break
				}
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		h.pipeline.Committed(jobs)
		h.pipeline.Durable(jobs, nil)
		for _, j := range jobs {
			line := fmt.Sprintf("%s#%d added=%v:", j.ref.Box, j.ref.Seq, j.added)
			for _, a := range j.alerts {
				line += " alert " + a.ID + "/" + a.Rule
			}
			for _, c := range j.changes {
				line += fmt.Sprintf(" change %d %s %s", c.Seq, c.AlertID, c.Action)
			}
			told = append(told, line)
		}
	}
	q := func(query string, cols int) {
		rows, err := h.store.db.Query(query)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			v := make([]any, cols)
			p := make([]any, cols)
			for i := range v {
				p[i] = &v[i]
			}
			if err := rows.Scan(p...); err != nil {
				t.Fatal(err)
			}
			stored = append(stored, fmt.Sprint(v...))
		}
	}
	q(`SELECT 'log ', seq, ' ', alert_id, '|', action, '|', ref, '|', user, '|', role, '|', note, '|', typeof(user) || typeof(role) || typeof(note) || typeof(ref) || typeof(time) FROM alert_log ORDER BY seq`, 16)
	q(`SELECT 'alert ', id, ' ', rule, ' repeats=', repeats, ' cleared_at=', cleared_at <> '', ' state=', state, ' readings=', json_extract(body, '$.readings') FROM alerts ORDER BY id`, 12)
	q(`SELECT 'kept ', box, ' ', seq FROM readings WHERE alerted = 1 ORDER BY box, seq`, 4)
	return stored, told
}

// TestFastPathSkipsAlertsAlreadyStored: an alert the store holds already
// (raised before, its reading removed by retention, the reading sent
// again) is not raised again, on the fast path as job by job, and the
// rest of its batch's alerts are.
func TestFastPathSkipsAlertsAlreadyStored(t *testing.T) {
	rules := `rules:
  - id: hot
    when: kind == "temperature" && payload.celsius > 37.5
    severity: high
    summary: "hot"
`
	// box-001's seq 2 raises the alert stored before the run; seq 3 a new
	// one (its resend in the same batch is a duplicate, and raises none).
	batches := [][]float64{{36.5, 38, 39, -39, 36}}
	origin, _ := time.Parse(time.RFC3339Nano, "2026-12-01T11:00:00.123456Z")
	ref := contract.ReadingRef{Box: "box-001", Incarnation: "3f9a1c0d7e2b4a65", Device: "thermo1", Seq: 2}
	stored := alertID(testCrossing, "hot", []contract.ReadingRef{ref}, origin)
	before := func(h *Hub, i int) {
		if i > 0 {
			return
		}
		a := contract.Alert{Schema: contract.AlertV1, ID: stored, Crossing: testCrossing, Box: ref.Box, Device: ref.Device,
			Rule: "hot", Severity: "high", State: "open", Raised: origin, Readings: []contract.ReadingRef{ref}}
		if err := h.store.addAlert(a); err != nil {
			t.Fatal(err)
		}
	}
	_, fresh := batchedRun(t, rules, batches, true, nil)
	if !strings.Contains(strings.Join(fresh, "\n"), "alert "+stored+"/hot") {
		t.Fatalf("without the stored alert the batch does not raise %s: the test does not cover it\n%s", stored, strings.Join(fresh, "\n"))
	}
	_, fastEvents := bothPathsAgree(t, rules, batches, before)
	told := strings.Join(fastEvents, "\n")
	if strings.Contains(told, "alert "+stored+"/hot") {
		t.Errorf("the alert stored before was raised again:\n%s", told)
	}
	if n := strings.Count(told, " raised"); n != 2*2-1 {
		t.Errorf("%d raises told, want 3 (box-001: seq 3 once; box-002: seqs 2 and 3)\n%s", n, told)
	}
}

// TestResentReadingAfterPruneRaisesNoSecondAlert: a reading whose row is
// gone (pruned, then sent again) is stored again and runs the rules, and
// the alert it raises, stored already, is not raised a second time, on
// the fast path as job by job; the batch's other alerts are raised.
func TestResentReadingAfterPruneRaisesNoSecondAlert(t *testing.T) {
	rules := `rules:
  - id: hot
    when: kind == "temperature" && payload.celsius > 37.5
    severity: high
    summary: "hot"
`
	// Batch 1: seq 2 of each box raises. Batch 2: seq 2 sent again (box-001's
	// row was removed meanwhile, box-002's is there: a duplicate), then
	// seqs 3 and 4 raise.
	batches := [][]float64{{36.5, 38}, {-38, 39, 40}}
	prune := func(h *Hub, i int) {
		if i != 1 {
			return
		}
		if _, err := h.store.db.Exec(`DELETE FROM readings WHERE box = 'box-001' AND seq = 2`); err != nil {
			t.Fatal(err)
		}
	}
	stored, told := bothPathsAgree(t, rules, batches, prune)
	all := strings.Join(told, "\n")
	// Batch 2's lines follow batch 1's four: box-001's three, box-002's.
	if len(told) != 10 || told[4] != "box-001#2 added=true:" || told[7] != "box-002#2 added=false:" {
		t.Fatalf("the resent seq 2 was not stored again without an alert (box-001) or taken for a duplicate (box-002):\n%s", all)
	}
	if n := strings.Count(all, " raised"); n != 6 {
		t.Errorf("%d raises told, want 6 (seqs 2, 3 and 4 of each box, once)\n%s", n, all)
	}
	if n := strings.Count(strings.Join(stored, "\n"), "|raised|"); n != 6 {
		t.Errorf("%d raised entries logged, want 6\n%s", n, strings.Join(stored, "\n"))
	}
}

// TestInsertAlertsTellsNewOnes: of a batch's alerts, those already stored
// (by an earlier batch) and the second of one id (in the same statement,
// or in a later one of the batch) are not new, and every other is; each
// id is stored once, as its first alert in the batch has it.
func TestInsertAlertsTellsNewOnes(t *testing.T) {
	h, err := New(&Config{Crossing: testCrossing, DataDir: t.TempDir()}, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	alert := func(i int, summary string) contract.Alert {
		return contract.Alert{Schema: contract.AlertV1, ID: fmt.Sprintf("alert-%02d", i), Crossing: testCrossing, Box: "box-001",
			Device: "thermo1", Rule: "hot", Severity: "high", Summary: summary, State: "open", Raised: time.Unix(1700000000, 0).UTC()}
	}
	for _, i := range []int{5, 38} {
		if err := h.store.addAlert(alert(i, "before")); err != nil {
			t.Fatal(err)
		}
	}
	// 40 alerts: statements of 32 and 8. #10 is #9's id again (the same
	// statement), #35 is #2's (the next one).
	var w alertWrites
	wantNew := map[int]bool{}
	for i := range 40 {
		a := alert(i, fmt.Sprintf("batch %d", i))
		switch i {
		case 10:
			a.ID = alert(9, "").ID
		case 35:
			a.ID = alert(2, "").ID
		}
		w.raised = append(w.raised, raisedAlert{a: a})
		wantNew[i] = i != 5 && i != 38 && i != 10 && i != 35
	}
	// Then a batch of new ones only.
	var w2 alertWrites
	for i := 40; i < 48; i++ {
		w2.raised = append(w2.raised, raisedAlert{a: alert(i, fmt.Sprintf("batch %d", i))})
		wantNew[i] = true
	}
	sqltx, err := h.store.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer sqltx.Rollback()
	tx := h.store.in(sqltx)
	for _, w := range []*alertWrites{&w, &w2} {
		if err := w.insertAlerts(tx); err != nil {
			t.Fatal(err)
		}
	}
	for k, r := range append(w.raised, w2.raised...) {
		if r.new != wantNew[k] {
			t.Errorf("alert #%d (%s): new=%v, want %v", k, r.a.ID, r.new, wantNew[k])
		}
	}
	rows, err := sqltx.Query(`SELECT id, json_extract(body, '$.summary') FROM alerts ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id, summary string
		if err := rows.Scan(&id, &summary); err != nil {
			t.Fatal(err)
		}
		got = append(got, id+" "+summary)
	}
	var want []string
	for i := range 48 {
		switch i {
		case 5, 38:
			want = append(want, fmt.Sprintf("alert-%02d before", i))
		case 10, 35:
		default:
			want = append(want, fmt.Sprintf("alert-%02d batch %d", i, i))
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stored\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestBatchedAlertLogRunsMatchJobByJob: a batch whose log entries are long
// runs of raises (written 32 to a statement of raises alone) between
// raises alternating with other changes stores the same log, seq by seq,
// as the job-by-job path.
func TestBatchedAlertLogRunsMatchJobByJob(t *testing.T) {
	rules := `rules:
  - id: cold
    when: kind == "temperature" && payload.celsius < 36
    severity: low
    summary: "cold"
  - id: hot
    when: kind == "temperature" && payload.celsius > 37.5
    severity: high
    summary: "hot"
  - id: warm
    when: kind == "temperature" && payload.celsius > 37
    cooldown: 1h
    severity: low
    summary: "warm"
`
	var temps []float64
	add := func(c float64, n int) {
		for range n {
			temps = append(temps, c)
		}
	}
	add(35, 40) // a run of 40 raises (then box-002's 40 follow box-001's last)
	add(38, 3)  // raise, raise; then raise and repeat, alternating
	add(35, 33)
	add(38, 2)
	add(35, 31)
	stored, _ := bothPathsAgree(t, rules, [][]float64{temps, {38, 35, 38}}, nil)
	raised, longest := 0, 0
	for _, line := range stored {
		if strings.HasPrefix(line, "log ") && strings.Contains(line, "|raised|") {
			raised++
			longest = max(longest, raised)
		} else {
			raised = 0
		}
	}
	if longest < 64 {
		t.Errorf("the longest run of raises logged is %d: the test does not cover a statement of raises alone\n%s", longest, strings.Join(stored, "\n"))
	}
}

// TestUpdateAlertsOverManyStatements: repeats added to more alerts than
// one statement takes (32) reach each alert, by its own count.
func TestUpdateAlertsOverManyStatements(t *testing.T) {
	h, err := New(&Config{Crossing: testCrossing, DataDir: t.TempDir()}, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var updates []any
	for i := range 45 {
		id := fmt.Sprintf("alert-%02d", i)
		a := contract.Alert{Schema: contract.AlertV1, ID: id, Crossing: testCrossing, Box: "box-001", Device: "thermo1",
			Rule: "warm", Severity: "low", State: "open", Raised: time.Unix(1700000000, 0).UTC()}
		if err := h.store.addAlert(a); err != nil {
			t.Fatal(err)
		}
		updates = append(updates, id, i+1)
	}
	sqltx, err := h.store.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer sqltx.Rollback()
	if err := updateAlerts(h.store.in(sqltx), addRepeatsText, updates); err != nil {
		t.Fatal(err)
	}
	for i := range 45 {
		var n int
		if err := sqltx.QueryRow(`SELECT repeats FROM alerts WHERE id = ?`, fmt.Sprintf("alert-%02d", i)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != i+1 {
			t.Errorf("alert-%02d: %d repeats, want %d", i, n, i+1)
		}
	}
}
