package hub

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kordon/kordon/hub/dash"
	"github.com/kordon/kordon/hub/events"
	"github.com/kordon/kordon/internal/contract"
)

func dashHub(t *testing.T) *Hub {
	t.Helper()
	cfg := &Config{Crossing: "kz-test", MQTT: "127.0.0.1:0", HTTP: "127.0.0.1:0", DataDir: t.TempDir()}
	for _, u := range []struct{ name, role string }{{"officer1", "officer"}, {"super1", "supervisor"}, {"tech1", "technician"}} {
		h, _ := bcrypt.GenerateFromPassword([]byte(u.name+"pw"), bcrypt.MinCost)
		cfg.Users = append(cfg.Users, dash.User{User: u.name, Role: u.role, PasswordHash: string(h)})
	}
	return runHub(t, cfg, nil)
}

type viewer struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func logIn(t *testing.T, h *Hub, user, pw string) *viewer {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	v := &viewer{t: t, base: "http://" + h.HTTPAddr(), c: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
	resp, err := dash.PostLogin(v.c, v.base, user, pw)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var me struct{ CSRF string }
	if code := v.get("/dash/api/me", &me); code != 200 {
		return nil
	}
	v.csrf = me.CSRF
	return v
}

func (v *viewer) get(path string, out any) int {
	v.t.Helper()
	resp, err := v.c.Get(v.base + path)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			v.t.Fatal(err)
		}
	}
	return resp.StatusCode
}

func (v *viewer) act(id, action, note string, csrf bool) int {
	v.t.Helper()
	body, _ := json.Marshal(map[string]string{"note": note})
	req, _ := http.NewRequest("POST", v.base+"/dash/api/alerts/"+id+"/"+action, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if csrf {
		req.Header.Set("X-CSRF-Token", v.csrf)
	}
	resp, err := v.c.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func testAlert(id string, raised time.Time, summary string) contract.Alert {
	return contract.Alert{Schema: contract.AlertV1, ID: id, Crossing: "kz-test", Box: "booth-01", Device: "reader1",
		Rule: "document-check-failed", Severity: "medium", Summary: summary, Time: raised.Add(-time.Second), Raised: raised,
		State: "open", Readings: []contract.ReadingRef{{Box: "booth-01", Device: "reader1", Seq: 7}}}
}

func TestDashboardLogInAndRoles(t *testing.T) {
	h := dashHub(t)
	if v := logIn(t, h, "officer1", "wrong"); v != nil {
		t.Fatal("wrong password admitted")
	}
	if v := logIn(t, h, "nobody", "nobodypw"); v != nil {
		t.Fatal("unknown user admitted")
	}
	anon := &viewer{t: t, base: "http://" + h.HTTPAddr(), c: &http.Client{}}
	for _, p := range []string{"/dash/api/alerts", "/dash/events", "/dash/export.csv?day=2026-11-01", "/dash/api/health"} {
		if code := anon.get(p, nil); code != http.StatusUnauthorized {
			t.Errorf("anonymous GET %s = %d, want 401", p, code)
		}
	}
	if err := h.store.addAlert(testAlert("a1", time.Now(), "x")); err != nil {
		t.Fatal(err)
	}
	tech := logIn(t, h, "tech1", "tech1pw")
	if code := tech.act("a1", "ack", "", true); code != http.StatusForbidden {
		t.Errorf("technician ack = %d, want 403", code)
	}
	if code := tech.get("/dash/export.csv?day=2026-11-01", nil); code != http.StatusForbidden {
		t.Errorf("technician export = %d, want 403", code)
	}
	off := logIn(t, h, "officer1", "officer1pw")
	if code := off.act("a1", "ack", "", false); code != http.StatusForbidden {
		t.Errorf("ack without CSRF token = %d, want 403", code)
	}
	if code := off.act("a1", "resolve", "  ", true); code != http.StatusBadRequest {
		t.Errorf("resolve without a note = %d, want 400", code)
	}
	if code := off.act("a1", "ack", "", true); code != 200 {
		t.Errorf("ack = %d", code)
	}
	if code := off.act("a1", "ack", "", true); code != http.StatusConflict {
		t.Errorf("second ack = %d, want 409", code)
	}
	if code := off.act("nope", "ack", "", true); code != http.StatusNotFound {
		t.Errorf("ack of unknown alert = %d, want 404", code)
	}
	// The API (for a logged-in viewer) shows the new state too.
	var api []contract.Alert
	resp, _ := off.c.Get("http://" + h.HTTPAddr() + "/api/alerts")
	json.NewDecoder(resp.Body).Decode(&api)
	resp.Body.Close()
	if len(api) != 1 || api[0].State != "acknowledged" {
		t.Errorf("/api/alerts = %+v, want one acknowledged", api)
	}
}

// documentedColumns reads the column table of docs/i2-export.md.
func documentedColumns(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../docs/i2-export.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?m)^\\| (\\d+) \\| `([a-z0-9_]+)` \\|")
	var cols []string
	for i, m := range re.FindAllStringSubmatch(string(b), -1) {
		if m[1] != fmt.Sprint(i+1) {
			t.Fatalf("docs/i2-export.md: row %s out of order", m[1])
		}
		cols = append(cols, m[2])
	}
	return cols
}

// TestExportDayParsesPerMapping: a day's alerts exported as CSV parse
// cleanly with the documented column mapping: header as documented, one
// row per alert of that day, dates in the documented formats, officers'
// identities and notes (with commas, quotes, line breaks, Cyrillic and a
// would-be formula) intact or defused as documented.
func TestExportDayParsesPerMapping(t *testing.T) {
	h := dashHub(t)
	doc := documentedColumns(t)
	if len(doc) != len(dash.Columns()) {
		t.Fatalf("docs list %d columns, code %d", len(doc), len(dash.Columns()))
	}
	for i, c := range dash.Columns() {
		if doc[i] != c.Name {
			t.Errorf("column %d: docs %q, code %q", i+1, doc[i], c.Name)
		}
	}
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	ids := []string{"d1", "d2", "d3"}
	for i, id := range ids {
		if err := h.store.addAlert(testAlert(id, day.Add(time.Duration(8+i)*time.Hour), "Документ, \"проверка\"")); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []contract.Alert{testAlert("before", day.Add(-time.Minute), "x"), testAlert("after", day.Add(24*time.Hour), "x")} {
		if err := h.store.addAlert(a); err != nil {
			t.Fatal(err)
		}
	}
	off := logIn(t, h, "officer1", "officer1pw")
	if off.act("d1", "ack", "=HYPERLINK(\"x\")", true) != 200 || off.act("d2", "resolve", "Пассажир направлен на досмотр,\nпротокол 12", true) != 200 {
		t.Fatal("ack/resolve refused")
	}
	resp, err := off.c.Get(off.base + "/dash/export.csv?day=2026-11-01")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("export: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	r := csv.NewReader(bytes.NewReader(body))
	rows, err := r.ReadAll() // also checks every row has the header's field count
	if err != nil {
		t.Fatalf("export does not parse as CSV: %v\n%s", err, body)
	}
	if strings.Join(rows[0], ",") != strings.Join(doc, ",") {
		t.Fatalf("header %v\nwant     %v", rows[0], doc)
	}
	if len(rows) != 4 {
		t.Fatalf("%d data rows, want the day's 3", len(rows)-1)
	}
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	for i, row := range rows[1:] {
		if row[col["alert_id"]] != ids[i] {
			t.Errorf("row %d: alert %s, want %s (oldest first)", i+1, row[col["alert_id"]], ids[i])
		}
		if _, err := time.Parse("2006-01-02", row[col["date"]]); err != nil {
			t.Errorf("row %d: date %q", i+1, row[col["date"]])
		}
		if _, err := time.Parse("15:04:05", row[col["time"]]); err != nil {
			t.Errorf("row %d: time %q", i+1, row[col["time"]])
		}
		for _, c := range []string{"datetime_utc", "raised_utc"} {
			if _, err := time.Parse(time.RFC3339, row[col[c]]); err != nil {
				t.Errorf("row %d: %s %q", i+1, c, row[col[c]])
			}
		}
		if row[col["booth_id"]] != "kz-test/booth-01" || row[col["device_id"]] != "kz-test/booth-01/reader1" || row[col["reading_refs"]] != "kz-test/booth-01/reader1#7" {
			t.Errorf("row %d: identities %q %q %q", i+1, row[col["booth_id"]], row[col["device_id"]], row[col["reading_refs"]])
		}
		if row[col["summary"]] != "Документ, \"проверка\"" {
			t.Errorf("row %d: summary %q", i+1, row[col["summary"]])
		}
	}
	d1, d2 := rows[1], rows[2]
	if d1[col["state"]] != "acknowledged" || d1[col["acknowledged_by"]] != "officer1" || d1[col["acknowledgement_note"]] != "'=HYPERLINK(\"x\")" {
		t.Errorf("acknowledged row: %v", d1)
	}
	if _, err := time.Parse(time.RFC3339, d1[col["acknowledged_utc"]]); err != nil {
		t.Errorf("acknowledged_utc %q", d1[col["acknowledged_utc"]])
	}
	if d2[col["state"]] != "resolved" || d2[col["resolved_by"]] != "officer1" || d2[col["resolution_note"]] != "Пассажир направлен на досмотр, протокол 12" {
		t.Errorf("resolved row: %v", d2)
	}
	if bytes.HasPrefix(body, []byte("\xef\xbb\xbf")) || !bytes.Contains(body, []byte("\r\n")) {
		t.Error("export is not BOM-less UTF-8 with CRLF line ends as documented")
	}
}

type sseEvent struct{ id, name, data string }

// stream opens the dashboard's event stream and delivers its events.
func (v *viewer) stream(ctx context.Context, lastID string) <-chan sseEvent {
	v.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", v.base+"/dash/events", nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	} else {
		req.URL.RawQuery = "since=0"
	}
	c := &http.Client{Jar: v.c.Jar} // no timeout: a stream
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != 200 {
		v.t.Fatalf("events: %v %v", err, resp)
	}
	out := make(chan sseEvent, 100)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if e.name != "" {
					out <- e
				}
				e = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				e.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				e.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				e.data += line[6:]
			}
		}
	}()
	return out
}

func nextAlert(t *testing.T, ch <-chan sseEvent) (string, dash.LogEntry, string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatal("stream ended")
			}
			if e.name != "alert" {
				continue
			}
			var ev struct {
				dash.LogEntry
				Alert dash.AlertView `json:"alert"`
			}
			if err := json.Unmarshal([]byte(e.data), &ev); err != nil {
				t.Fatal(err)
			}
			return e.id, ev.LogEntry, ev.Alert.State
		case <-timeout:
			t.Fatal("no alert event")
		}
	}
}

// TestEventsResumeFromLastEventID: a viewer that drops off and comes back
// with Last-Event-ID gets exactly the alert changes it missed, in order.
func TestEventsResumeFromLastEventID(t *testing.T) {
	h := dashHub(t)
	now := time.Now()
	for i := 1; i <= 3; i++ {
		if err := h.store.addAlert(testAlert(fmt.Sprintf("r%d", i), now.Add(time.Duration(i)*time.Second), "x")); err != nil {
			t.Fatal(err)
		}
	}
	v := logIn(t, h, "super1", "super1pw")
	ctx, cancel := context.WithCancel(context.Background())
	ch := v.stream(ctx, "")
	var last string
	for i := 1; i <= 3; i++ {
		id, e, _ := nextAlert(t, ch)
		if e.AlertID != fmt.Sprintf("r%d", i) || e.Action != "raised" || id != fmt.Sprint(e.Seq) {
			t.Fatalf("replayed event %d: id %s %+v", i, id, e)
		}
		last = id
	}
	// Live: a new alert arrives while connected.
	if err := h.store.addAlert(testAlert("r4", now.Add(4*time.Second), "x")); err != nil {
		t.Fatal(err)
	}
	h.live.send(event{Name: "alert", Data: []byte(`{}`)})
	if _, e, _ := nextAlert(t, ch); e.AlertID != "r4" {
		t.Fatalf("live event for %s, want r4", e.AlertID)
	}
	last = fmt.Sprint(mustLastSeq(t, h))
	cancel() // the link drops

	// Meanwhile: an officer acknowledges r2 and a new alert is raised.
	off := logIn(t, h, "officer1", "officer1pw")
	if off.act("r2", "ack", "seen", true) != 200 {
		t.Fatal("ack refused")
	}
	if err := h.store.addAlert(testAlert("r5", now.Add(5*time.Second), "x")); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	ch2 := v.stream(ctx2, last)
	_, e1, st := nextAlert(t, ch2)
	_, e2, _ := nextAlert(t, ch2)
	if e1.AlertID != "r2" || e1.Action != "acknowledged" || e1.User != "officer1" || st != "acknowledged" {
		t.Errorf("first resumed event %+v (state %s), want r2 acknowledged by officer1", e1, st)
	}
	if e2.AlertID != "r5" || e2.Action != "raised" {
		t.Errorf("second resumed event %+v, want r5 raised", e2)
	}
}

func mustLastSeq(t *testing.T, h *Hub) int64 {
	t.Helper()
	n, err := dashStore{h.store, h.auth.redact}.LastSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAlertRepeatsAndClearsLogged: rule repeats and cleared conditions are
// stored on the alert and in its log (what the dashboard shows).
func TestAlertRepeatsAndClearsLogged(t *testing.T) {
	h := dashHub(t)
	a := testAlert("f1", time.Now(), "fever")
	if err := h.store.addAlert(a); err != nil {
		t.Fatal(err)
	}
	ref := contract.ReadingRef{Box: "booth-01", Device: "thermo1", Seq: 9}
	for _, action := range []string{"repeated", "repeated", "cleared"} {
		tx, err := h.store.db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if err := logAlertChange(h.store.in(tx), &events.Change{AlertID: "f1", Action: action, Time: time.Now(), Ref: &ref}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	v, log, err := dashStore{h.store, h.auth.redact}.Alert(context.Background(), "f1")
	if err != nil {
		t.Fatal(err)
	}
	if v.Repeats != 2 || v.ClearedAt == "" || len(log) != 4 || log[3].Action != "cleared" || log[3].Ref == nil || *log[3].Ref != ref {
		t.Errorf("alert %+v log %+v", v, log)
	}
}

func TestWeeklySummary(t *testing.T) {
	h := dashHub(t)
	from := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	for i, sev := range []string{"high", "medium", "medium"} {
		a := testAlert(fmt.Sprintf("w%d", i), from.Add(time.Duration(i)*24*time.Hour+time.Hour), "x")
		a.Severity, a.Box = sev, fmt.Sprintf("booth-0%d", i%2+1)
		if err := h.store.addAlert(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.store.addAlert(testAlert("outside", from.AddDate(0, 0, 7), "x")); err != nil {
		t.Fatal(err)
	}
	v := logIn(t, h, "super1", "super1pw")
	if v.act("w0", "ack", "", true) != 200 {
		t.Fatal("ack refused")
	}
	var s dash.Summary
	if code := v.get("/dash/api/summary?from=2026-11-02", &s); code != 200 {
		t.Fatalf("summary: %d", code)
	}
	if s.Total != 3 || s.BySeverity["high"] != 1 || s.BySeverity["medium"] != 2 || s.ByState["acknowledged"] != 1 ||
		s.AckCount != 1 || s.Unresolved != 3 || len(s.ByDay) != 7 || s.ByDay[1].Count != 1 || len(s.Highest) != 1 {
		t.Errorf("summary %+v", s)
	}
	if len(s.ByBooth) != 2 || s.ByBooth[0] != (dash.Count{Key: "booth-01", Count: 2}) {
		t.Errorf("by booth %+v", s.ByBooth)
	}
}
