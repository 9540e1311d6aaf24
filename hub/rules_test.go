package hub

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kordon/kordon/hub/events"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/logging"
	"github.com/kordon/kordon/internal/reading"
)

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

type fakeSink struct {
	mu       sync.Mutex
	repeats  map[string]int
	clearedN map[string]int
}

func newFakeSink() *fakeSink { return &fakeSink{repeats: map[string]int{}, clearedN: map[string]int{}} }
func (f *fakeSink) repeated(id string, _ contract.ReadingRef, _ time.Time) {
	f.mu.Lock()
	f.repeats[id]++
	f.mu.Unlock()
}
func (f *fakeSink) cleared(id string, _ contract.ReadingRef, _ time.Time) {
	f.mu.Lock()
	f.clearedN[id]++
	f.mu.Unlock()
}

// testRules is a rule set with a sink counting the changes the rules make.
type testRules struct {
	*ruleSet
	sink *fakeSink
}

// feed runs one reading through the rules, as the commit path does, with
// its state change committed.
func feed(t *testing.T, rs *testRules, device string, seq uint64, at time.Duration, kind, payload string) []contract.Alert {
	t.Helper()
	st := rs.state.begin()
	alerts, changes := judge(t, rs, st, device, seq, at, kind, payload)
	st.commit()
	for _, c := range changes {
		if rs.sink == nil {
			continue
		}
		switch c.Action {
		case "repeated":
			rs.sink.repeated(c.AlertID, *c.Ref, c.Time)
		case "cleared":
			rs.sink.cleared(c.AlertID, *c.Ref, c.Time)
		}
	}
	return alerts
}

// judge runs one reading of booth-01 through the rules in the state change
// st, as the commit path runs a job of a batch.
func judge(t *testing.T, rs *testRules, st *stateTx, device string, seq uint64, at time.Duration, kind, payload string) ([]contract.Alert, []events.Change) {
	t.Helper()
	r := &reading.Reading{Crossing: "kz", Box: "booth-01", Device: device, Driver: "x", Seq: seq, Origin: t0.Add(at),
		Quality: reading.Quality{Status: reading.OK}, Payload: reading.Received{KindName: kind, JSON: json.RawMessage(payload)}}
	var p map[string]any
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		t.Fatal(err)
	}
	return decide(rs.match(ruleVars(r, p)), st, "kz", r, contract.ReadingRef{Box: r.Box, Device: r.Device, Seq: seq}, t0.Add(at))
}

func mustCompile(t *testing.T, src string) *testRules {
	t.Helper()
	rs, err := compileRules("rules.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return &testRules{ruleSet: rs}
}

func TestDefaultRulesCompile(t *testing.T) {
	rs, err := defaultRules()
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.rules) == 0 {
		t.Fatal("no default rules")
	}
}

// TestRuleErrorsNameRuleAndPosition: every way a rule can be wrong is
// refused with the file, line, column and the rule's id.
func TestRuleErrorsNameRuleAndPosition(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"bad CEL", "rules:\n  - id: ok\n    when: kind == \"x\"\n    severity: low\n  - id: broken\n    when: kind == = 1\n    severity: high\n",
			`rules.yaml:6:11: rule "broken": when: ERROR: <input>:1:9: Syntax error`},
		{"undeclared variable", "rules:\n  - id: typo\n    when: kidn == \"document\"\n    severity: low\n",
			`rules.yaml:3:11: rule "typo": when: ERROR: <input>:1:1: undeclared reference to 'kidn'`},
		{"not boolean", "rules:\n  - id: str\n    when: kind\n    severity: low\n",
			`rules.yaml:3:11: rule "str": when: must be a bool expression, is string`},
		{"severity", "rules:\n  - id: sev\n    when: true\n    severity: urgent\n",
			`rules.yaml:4:15: rule "sev": severity: "urgent" is not one of info, low, medium, high, critical`},
		{"unknown field", "rules:\n  - id: f\n    when: true\n    severity: low\n    cooldwn: 5m\n",
			`rules.yaml:5:5: rule "f": unknown field "cooldwn"`},
		{"duration", "rules:\n  - id: d\n    when: true\n    severity: low\n    cooldown: 5 minutes\n",
			`rules.yaml:5:15: rule "d": "5 minutes" is not a duration`},
		{"duplicate id", "rules:\n  - id: a\n    when: true\n    severity: low\n  - id: a\n    when: true\n    severity: low\n",
			`rules.yaml:5:5: rule "a": id repeated (first at line 2)`},
		{"missing id", "rules:\n  - when: true\n    severity: low\n",
			`rules.yaml:2:5: rule #1: id: missing`},
		{"correlate window", "rules:\n  - id: c\n    when: kind == \"document\"\n    severity: high\n    correlate:\n      with: kind == \"trace\"\n",
			`rules.yaml:6:7: rule "c": correlate.window: missing or zero`},
		{"correlate with", "rules:\n  - id: c\n    when: kind == \"document\"\n    severity: high\n    correlate:\n      with: payload.\n      window: 2m\n",
			`rules.yaml:6:13: rule "c": correlate.with: ERROR`},
		{"yaml syntax", "rules:\n  - id: y\n    when: [\n", `rules.yaml: `},
		{"top key", "rule:\n  - id: y\n", `rules.yaml:1:1: unknown key "rule"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := compileRules("rules.yaml", []byte(c.src))
			if err == nil {
				t.Fatalf("accepted:\n%s", c.src)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, c.want)
			}
		})
	}
}

// TestBrokenRulesFileRefusedPreviousStay: a running hub given a broken
// rules file refuses it with a message naming the rule and position, and
// keeps raising alerts with the rules it had.
func TestBrokenRulesFileRefusedPreviousStay(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	good := "rules:\n  - id: bad-document\n    when: kind == \"document\" && !payload.valid\n    severity: medium\n    summary: Bad document\n"
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := New(&Config{Crossing: "kz", MQTT: "127.0.0.1:0", DataDir: dir, Rules: path}, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	rs := &testRules{ruleSet: h.rules}

	broken := good + "  - id: fever\n    when: payload.celsius >\n    severity: high\n"
	if err := os.WriteFile(path, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	err = h.ReloadRules()
	select { // the watcher may have tried the broken file too
	case <-rs.reloaded:
	default:
	}
	if err == nil {
		t.Fatal("broken rules file accepted")
	}
	want := path + `:7:11: rule "fever": when: ERROR: <input>:1:18: Syntax error`
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q\nwant it to contain %q", err, want)
	}
	if info := h.Rules(); info.LastError == "" || len(info.Rules) != 1 || info.Rules[0] != "bad-document" {
		t.Errorf("rules info after refusal = %+v", info)
	}
	if a := feed(t, rs, "reader1", 1, 0, "document", `{"valid":false}`); len(a) != 1 || a[0].Rule != "bad-document" {
		t.Errorf("previous rules not in force: %+v", a)
	}

	// A fixed file is picked up by the watcher without a call.
	fixed := good + "  - id: fever\n    when: kind == \"temperature\" && payload.fever\n    severity: high\n"
	if err := os.WriteFile(path, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(20 * time.Second)
	for reloaded := false; !reloaded; {
		select {
		case err := <-rs.reloaded:
			reloaded = err == nil // an earlier attempt on the broken file may still report
		case <-deadline:
			t.Fatal("watcher did not reload the changed file")
		}
	}
	if a := feed(t, rs, "thermo1", 1, time.Second, "temperature", `{"fever":true}`); len(a) != 1 || a[0].Rule != "fever" {
		t.Errorf("reloaded rules not in force: %+v", a)
	}
	if h.Rules().LastError != "" {
		t.Errorf("last error kept after a good reload: %q", h.Rules().LastError)
	}
}

func TestCooldownCountsRepeats(t *testing.T) {
	rs := mustCompile(t, "rules:\n  - id: alarm\n    when: payload.alarm\n    severity: high\n    cooldown: 60s\n")
	sink := newFakeSink()
	rs.sink = sink
	first := feed(t, rs, "trace1", 1, 0, "trace", `{"alarm":true}`)
	if len(first) != 1 {
		t.Fatalf("first alarm raised %d alerts", len(first))
	}
	if a := feed(t, rs, "trace1", 2, 30*time.Second, "trace", `{"alarm":true}`); len(a) != 0 {
		t.Errorf("alarm within cool-down raised %d alerts", len(a))
	}
	if a := feed(t, rs, "trace2", 1, 31*time.Second, "trace", `{"alarm":true}`); len(a) != 1 {
		t.Errorf("another device's alarm raised %d alerts, want 1 (cool-down is per device)", len(a))
	}
	if sink.repeats[first[0].ID] != 1 {
		t.Errorf("repeats on first alert = %d, want 1", sink.repeats[first[0].ID])
	}
	if a := feed(t, rs, "trace1", 3, 61*time.Second, "trace", `{"alarm":true}`); len(a) != 1 {
		t.Errorf("alarm after cool-down raised %d alerts, want 1", len(a))
	}
}

func TestClearLatchesUntilRecovery(t *testing.T) {
	rs := mustCompile(t, "rules:\n  - id: fever\n    when: kind == \"temperature\" && payload.fever\n    clear: kind == \"temperature\" && !payload.fever\n    severity: high\n")
	sink := newFakeSink()
	rs.sink = sink
	a := feed(t, rs, "thermo1", 1, 0, "temperature", `{"fever":true}`)
	if len(a) != 1 {
		t.Fatalf("fever raised %d alerts", len(a))
	}
	for i := uint64(2); i < 6; i++ {
		if b := feed(t, rs, "thermo1", i, time.Duration(i)*time.Second, "temperature", `{"fever":true}`); len(b) != 0 {
			t.Fatalf("sample %d of the same fever raised an alert", i)
		}
	}
	feed(t, rs, "thermo1", 6, 10*time.Second, "temperature", `{"fever":false}`)
	if sink.repeats[a[0].ID] != 4 || sink.clearedN[a[0].ID] != 1 {
		t.Errorf("repeats %d cleared %d, want 4 and 1", sink.repeats[a[0].ID], sink.clearedN[a[0].ID])
	}
	if b := feed(t, rs, "thermo1", 7, 20*time.Second, "temperature", `{"fever":true}`); len(b) != 1 {
		t.Errorf("a new fever after recovery raised %d alerts, want 1", len(b))
	}
}

const corrRules = `rules:
  - id: document-and-alarm
    when: kind == "document"
    correlate:
      with: kind == "trace" && payload.alarm
      window: 2m
    severity: high
    summary: Trace alarm while a document was checked
`

// TestCorrelationLinksBothReadings: a document read and a trace alarm from
// two devices of one booth within the window become one alert with both.
func TestCorrelationLinksBothReadings(t *testing.T) {
	rs := mustCompile(t, corrRules)
	if a := feed(t, rs, "reader1", 1, 0, "document", `{"valid":true}`); len(a) != 0 {
		t.Fatalf("document alone raised %+v", a)
	}
	if a := feed(t, rs, "trace1", 1, 10*time.Second, "trace", `{"alarm":false}`); len(a) != 0 {
		t.Fatalf("clear trace sample raised %+v", a)
	}
	a := feed(t, rs, "trace1", 2, 50*time.Second, "trace", `{"alarm":true}`)
	if len(a) != 1 {
		t.Fatalf("document + alarm raised %d alerts, want 1", len(a))
	}
	want := []contract.ReadingRef{{Box: "booth-01", Device: "reader1", Seq: 1}, {Box: "booth-01", Device: "trace1", Seq: 2}}
	if len(a[0].Readings) != 2 || a[0].Readings[0] != want[0] || a[0].Readings[1] != want[1] {
		t.Errorf("alert readings = %+v, want %+v", a[0].Readings, want)
	}
	// The document is used up: a second alarm needs a new document.
	if b := feed(t, rs, "trace1", 3, 60*time.Second, "trace", `{"alarm":true}`); len(b) != 0 {
		t.Errorf("second alarm paired again: %+v", b)
	}
	// Order does not matter: alarm first, then document, within the window.
	if b := feed(t, rs, "reader1", 2, 90*time.Second, "document", `{"valid":true}`); len(b) != 1 {
		t.Errorf("alarm then document raised %d alerts, want 1", len(b))
	}
	// Outside the window nothing pairs.
	feed(t, rs, "reader1", 3, 10*time.Minute, "document", `{"valid":true}`)
	if b := feed(t, rs, "trace1", 4, 13*time.Minute, "trace", `{"alarm":true}`); len(b) != 0 {
		t.Errorf("readings 3 minutes apart paired in a 2 minute window: %+v", b)
	}
}

func TestCorrelationNeedsTwoDevices(t *testing.T) {
	rs := mustCompile(t, `rules:
  - id: two-alarms
    when: payload.alarm
    correlate: {with: payload.alarm, window: 1m}
    severity: critical
`)
	if a := feed(t, rs, "trace1", 1, 0, "trace", `{"alarm":true}`); len(a) != 0 {
		t.Fatalf("one reading paired with itself: %+v", a)
	}
	if a := feed(t, rs, "trace1", 2, time.Second, "trace", `{"alarm":true}`); len(a) != 0 {
		t.Fatalf("two readings of one device paired: %+v", a)
	}
	if a := feed(t, rs, "xray1", 1, 2*time.Second, "scan", `{"alarm":true}`); len(a) != 1 {
		t.Fatalf("alarms of two devices raised %d alerts, want 1", len(a))
	}
}

// TestDocExamplesCompile keeps docs/rules.md honest.
func TestDocExamplesCompile(t *testing.T) {
	b, err := os.ReadFile("../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "## Examples\n\n```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/rules.md: examples block not found")
	}
	rs, err := compileRules("docs/rules.md", []byte("rules:\n"+block))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.rules) < 6 {
		t.Errorf("only %d examples compiled", len(rs.rules))
	}
	night := feed(t, &testRules{ruleSet: rs}, "reader1", 1, 0, "document", `{"valid":true,"expired":false,"issuer":"D"}`) // 09:00 UTC = 14:00 at +05
	for _, a := range night {
		if a.Rule == "night-document" {
			t.Errorf("night rule fired at 14:00 local")
		}
	}
}
