package weighbridge_test

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

// TestOverweightAlert: the settle-overweight trace through a pty into a
// real edged and hub raises one weighbridge-overweight alert from the
// family's own rules, naming the weight and the limit; the empty-bridge
// weighings around it are stored and raise nothing.
func TestOverweightAlert(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tr, err := trace.ReadFile("testdata/traces/settle-overweight.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	p, err := replay.OpenPTY(filepath.Join(t.TempDir(), "tty"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	h := crossingtest.StartHub(t, "lane-01", "pw1")
	rec := crossingtest.Subscribe(t, h)
	crossingtest.StartBox(t, ctx, h, "lane-01", "pw1", `
  - id: wb1
    driver: weighbridge
    transport: {type: serial, path: `+p.Path+`}
    options: {max_gross_kg: 44000}
`)
	rec.DeviceUp(t, "lane-01", "wb1")
	go replay.Serial(ctx, tr, p.Device, replay.Options{})
	alerts := rec.Alerts(t, 1, 30*time.Second)
	if a := alerts[0]; a.Rule != "weighbridge-overweight" || a.Summary != "Vehicle over the gross weight limit: 46250 kg (limit 44000 kg)" {
		t.Errorf("alert %s: %q", a.Rule, a.Summary)
	}
	rec.Wait(t, contract.Readings(crossingtest.Crossing, "lane-01", "wb1"), 20*time.Second, func(m [][]byte) bool { return len(m) == 3 })
	if c := h.Counters(); c.Readings != 3 || c.Alerts != 1 {
		t.Errorf("hub counters %+v, want 3 readings, 1 alert", c)
	}
}
