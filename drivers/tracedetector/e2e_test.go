package tracedetector_test

import (
	"context"
	"testing"
	"time"

	"github.com/kordon/kordon/e2e/stationtest"
	"github.com/kordon/kordon/hwtest/replay"
)

// TestAlarmAlertNamesTheSubstance: the alarm trace through a pty into a
// real edged and hub raises trace-alarm alerts whose summaries name the
// substances (the rule's summary_expr), one per alarmed sample.
func TestAlarmAlertNamesTheSubstance(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := stationtest.TraceStation{Box: "booth-03", Device: "ims1", Driver: "trace-lines",
		Options: "{grammar: {profile: trace-csv}}", Trace: "testdata/traces/alarm.jsonl"}.Start(t, ctx)
	s.Dev.Play(ctx, replay.Options{})
	want := map[string]bool{"Trace detector alarm: TNT, RDX": true, "Trace detector alarm: TNT": true}
	for _, a := range s.Rec.Alerts(t, 2, 30*time.Second) {
		if a.Rule != "trace-alarm" || !want[a.Summary] {
			t.Errorf("alert %s: %q", a.Rule, a.Summary)
		}
		delete(want, a.Summary)
	}
	if len(want) != 0 {
		t.Errorf("missing alerts: %v", want)
	}
	// The clear sample is stored and raises nothing.
	s.Readings(t, 3, 20*time.Second)
	if c := s.Hub.Counters(); c.Readings != 3 || c.Alerts != 2 {
		t.Errorf("hub counters %+v, want 3 readings, 2 alerts", c)
	}
}
