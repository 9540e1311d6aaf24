package barcode_test

import (
	"context"
	"testing"
	"time"

	"github.com/kordon/kordon/e2e/stationtest"
	"github.com/kordon/kordon/hwtest/replay"
)

// TestRescannedBadContainerAlertsOnceAtHub: the rescan-invalid trace (one
// bad container scanned 21 times, then another bad one) through a pty into
// a real edged and hub: 22 readings stored, two container-invalid alerts.
func TestRescannedBadContainerAlertsOnceAtHub(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := stationtest.TraceStation{Box: "yard-01", Device: "scan1", Driver: "barcode",
		Trace: "testdata/traces/rescan-invalid.jsonl"}.Start(t, ctx)
	s.Dev.Play(ctx, replay.Options{})
	s.Readings(t, 22, 30*time.Second)
	for _, a := range s.Rec.Alerts(t, 2, 10*time.Second) {
		if a.Rule != "container-invalid" {
			t.Errorf("alert %+v", a)
		}
	}
	if c := s.Hub.Counters(); c.Readings != 22 || c.Alerts != 2 {
		t.Errorf("hub counters %+v, want 22 readings and 2 alerts", c)
	}
}
