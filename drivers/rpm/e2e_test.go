package rpm_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/crossingtest"
)

// TestSourcePassingAlarmsOnceAtHub: the source trace (a source during the
// first occupancy, a clean second one) through a pty into a real edged and
// hub gives five readings and exactly one rpm-alarm alert.
func TestSourcePassingAlarmsOnceAtHub(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tr, err := trace.ReadFile("testdata/traces/source.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	p, err := replay.OpenPTY(filepath.Join(t.TempDir(), "tty"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	h := crossingtest.StartHub(t, "lane-01", "pwl")
	rec := crossingtest.Subscribe(t, h)
	crossingtest.StartBox(t, ctx, h, "lane-01", "pwl", `
  - id: rpm1
    driver: rpm
    transport: {type: serial, path: `+p.Path+`}
    options: {k: 5}
`)
	rec.DeviceUp(t, "lane-01", "rpm1")
	go replay.Serial(ctx, tr, p.Device, replay.Options{})
	rec.Wait(t, contract.Readings(crossingtest.Crossing, "lane-01", "rpm1"), 30*time.Second, func(m [][]byte) bool { return len(m) == 5 })
	alerts := rec.Alerts(t, 1, 10*time.Second)
	if c := h.Counters(); c.Readings != 5 || c.Alerts != 1 {
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
			tr, err := trace.ReadFile("testdata/traces/" + tc.trace + ".jsonl")
			if err != nil {
				t.Fatal(err)
			}
			p, err := replay.OpenPTY(filepath.Join(t.TempDir(), "tty"))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			h := crossingtest.StartHub(t, "lane-01", "pwl")
			rec := crossingtest.Subscribe(t, h)
			crossingtest.StartBox(t, ctx, h, "lane-01", "pwl", `
  - id: rpm1
    driver: rpm
`+"    transport: {type: serial, path: "+p.Path+"}\n")
			rec.DeviceUp(t, "lane-01", "rpm1")
			// As many readings as the golden file holds.
			golden, err := os.ReadFile("testdata/golden/" + tc.trace + ".jsonl")
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Count(string(golden), "\n")
			go replay.Serial(ctx, tr, p.Device, replay.Options{})
			rec.Wait(t, contract.Readings(crossingtest.Crossing, "lane-01", "rpm1"), 30*time.Second, func(m [][]byte) bool { return len(m) == want })
			n := 0
			for _, v := range tc.alerts {
				n += v
			}
			got := map[string]int{}
			for _, a := range rec.Alerts(t, n, 10*time.Second) {
				got[a.Rule]++
			}
			if c := h.Counters(); c.Readings != int64(want) || c.Alerts != int64(n) || c.Refused != 0 {
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
