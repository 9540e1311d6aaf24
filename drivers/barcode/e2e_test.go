package barcode_test

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

// TestRescannedBadContainerAlertsOnceAtHub: the rescan-invalid trace (one
// bad container scanned 21 times, then another bad one) through a pty into
// a real edged and hub: 22 readings stored, two container-invalid alerts.
func TestRescannedBadContainerAlertsOnceAtHub(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tr, err := trace.ReadFile("testdata/traces/rescan-invalid.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	p, err := replay.OpenPTY(filepath.Join(t.TempDir(), "tty"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	h := crossingtest.StartHub(t, "yard-01", "pwy")
	rec := crossingtest.Subscribe(t, h)
	crossingtest.StartBox(t, ctx, h, "yard-01", "pwy", `
  - id: scan1
    driver: barcode
    transport: {type: serial, path: `+p.Path+`}
`)
	rec.DeviceUp(t, "yard-01", "scan1")
	go replay.Serial(ctx, tr, p.Device, replay.Options{})
	rec.Wait(t, contract.Readings(crossingtest.Crossing, "yard-01", "scan1"), 30*time.Second, func(m [][]byte) bool { return len(m) == 22 })
	alerts := rec.Alerts(t, 2, 10*time.Second)
	for _, a := range alerts {
		if a.Rule != "container-invalid" {
			t.Errorf("alert %+v", a)
		}
	}
	if c := h.Counters(); c.Readings != 22 || c.Alerts != 2 {
		t.Errorf("hub counters %+v, want 22 readings and 2 alerts", c)
	}
}
