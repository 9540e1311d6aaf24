package weighbridge_test

import (
	"context"
	"testing"
	"time"

	"github.com/kordon/kordon/e2e/stationtest"
	"github.com/kordon/kordon/hwtest/replay"
)

// TestOverweightAlert: the settle-overweight trace through a pty into a
// real edged and hub raises one weighbridge-overweight alert from the
// family's own rules, naming the weight and the limit; the empty-bridge
// weighings around it are stored and raise nothing.
func TestOverweightAlert(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := stationtest.TraceStation{Box: "lane-01", Device: "wb1", Driver: "weighbridge",
		Options: "{max_gross_kg: 44000}", Trace: "testdata/traces/settle-overweight.jsonl"}.Start(t, ctx)
	s.Dev.Play(ctx, replay.Options{})
	alerts := s.Rec.Alerts(t, 1, 30*time.Second)
	if a := alerts[0]; a.Rule != "weighbridge-overweight" || a.Summary != "Vehicle over the gross weight limit: 46250 kg (limit 44000 kg)" {
		t.Errorf("alert %s: %q", a.Rule, a.Summary)
	}
	s.Readings(t, 3, 20*time.Second)
	if c := s.Hub.Counters(); c.Readings != 3 || c.Alerts != 1 {
		t.Errorf("hub counters %+v, want 3 readings, 1 alert", c)
	}
}
