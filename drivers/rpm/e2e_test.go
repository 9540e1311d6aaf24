package rpm_test

import (
	"context"
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
