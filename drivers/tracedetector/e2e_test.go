package tracedetector_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/crossingtest"
)

// TestAlarmAlertNamesTheSubstance: the alarm trace through a pty into a
// real edged and hub raises trace-alarm alerts whose summaries name the
// substances (the rule's summary_expr), one per alarmed sample.
func TestAlarmAlertNamesTheSubstance(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tr, err := trace.ReadFile("testdata/traces/alarm.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	p, err := replay.OpenPTY(filepath.Join(t.TempDir(), "tty"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	h := crossingtest.StartHub(t, "booth-03", "pw3")
	rec := crossingtest.Subscribe(t, h)
	crossingtest.StartBox(t, ctx, h, "booth-03", "pw3", `
  - id: ims1
    driver: trace-lines
    transport: {type: serial, path: `+p.Path+`}
    options: {grammar: {profile: trace-csv}}
`)
	rec.DeviceUp(t, "booth-03", "ims1")
	go replay.Serial(ctx, tr, p.Device, replay.Options{})
	alerts := rec.Alerts(t, 2, 30*time.Second)
	want := map[string]bool{"Trace detector alarm: TNT, RDX": true, "Trace detector alarm: TNT": true}
	for _, a := range alerts {
		if a.Rule != "trace-alarm" || !want[a.Summary] {
			t.Errorf("alert %s: %q", a.Rule, a.Summary)
		}
		delete(want, a.Summary)
	}
	if len(want) != 0 {
		t.Errorf("missing alerts: %v", want)
	}
	// The clear sample is stored and raises nothing.
	rec.Wait(t, contract.Readings(crossingtest.Crossing, "booth-03", "ims1"), 20*time.Second, func(m [][]byte) bool { return len(m) == 3 })
	if c := h.Counters(); c.Readings != 3 || c.Alerts != 2 {
		t.Errorf("hub counters %+v, want 3 readings, 2 alerts", c)
	}
}
