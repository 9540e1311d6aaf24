package rpm_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/e2e/stationtest"
	"github.com/kordon/kordon/hwtest/replay"
)

// TestSourcePassingAlarmsOnceAtHub: the source trace (a source during the
// first occupancy, a clean second one) through a pty into a real edged and
// hub gives five readings and exactly one rpm-alarm alert.
func TestSourcePassingAlarmsOnceAtHub(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := stationtest.TraceStation{Box: "lane-01", Device: "rpm1", Driver: "rpm", Options: "{k: 5}",
		Trace: "testdata/traces/source.jsonl"}.Start(t, ctx)
	s.Dev.Play(ctx, replay.Options{})
	s.Readings(t, 5, 30*time.Second)
	alerts := s.Rec.Alerts(t, 1, 10*time.Second)
	if c := s.Hub.Counters(); c.Readings != 5 || c.Alerts != 1 {
		t.Errorf("hub counters %+v, want 5 readings and 1 alert", c)
	}
	if a := alerts[0]; a.Rule != "rpm-alarm" || a.Severity != "critical" || !strings.HasPrefix(a.Summary, "Radiation portal alarm: gamma detector ") {
		t.Errorf("alert %+v", a)
	}
}

// TestBackgroundStepThroughEdgedAndHub: the step trace (gamma +40 % that
// stays, ten vehicles) at a real hub: every reading is stored (the
// background_change notice included), and only the vehicles inside the
// hold raise rpm-alarm; the implausible jump raises rpm-fault.
func TestBackgroundStepThroughEdgedAndHub(t *testing.T) {
	for _, tc := range []struct {
		trace  string
		alerts map[string]int
	}{
		{"step", map[string]int{"rpm-alarm": 2}},
		{"step-implausible", map[string]int{"rpm-fault": 1}},
	} {
		t.Run(tc.trace, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			s := stationtest.TraceStation{Box: "lane-01", Device: "rpm1", Driver: "rpm",
				Trace: "testdata/traces/" + tc.trace + ".jsonl"}.Start(t, ctx)
			// As many readings as the golden file holds.
			golden, err := os.ReadFile("testdata/golden/" + tc.trace + ".jsonl")
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Count(string(golden), "\n")
			s.Dev.Play(ctx, replay.Options{})
			s.Readings(t, want, 30*time.Second)
			n := 0
			for _, v := range tc.alerts {
				n += v
			}
			got := map[string]int{}
			for _, a := range s.Rec.Alerts(t, n, 10*time.Second) {
				got[a.Rule]++
			}
			if c := s.Hub.Counters(); c.Readings != int64(want) || c.Alerts != int64(n) || c.Refused != 0 {
				t.Errorf("hub counters %+v, want %d readings, %d alerts, none refused; alerts %v", c, want, n, got)
			}
			for r, v := range tc.alerts {
				if got[r] != v {
					t.Errorf("alerts %v, want %v", got, tc.alerts)
				}
			}
		})
	}
}
