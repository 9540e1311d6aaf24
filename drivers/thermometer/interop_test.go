package thermometer_test

import (
	"context"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/drivers/thermometer"
	"github.com/kordon/kordon/drivers/thermometer/screening"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/transport"
)

// interopOptions is the bus the pymodbus slave serves.
const interopOptions = `
poll: 50ms
timeout: 300ms
retries: 2
slaves:
  - {address: 1, name: lane-1, profile: calex-pyrousb}
  - {address: 2, name: outdoor-air, profile: xy-md02, screening: {fever: false}}
screening: {stuck_window: 0s, heartbeat: 1s}
`

// TestInteropPymodbusSlave runs the real driver against an independent RTU
// slave implementation (pymodbus) over a socat pty pair: both slaves on one
// bus answer and their values arrive decoded.
func TestInteropPymodbusSlave(t *testing.T) {
	path := startPymodbusSlave(t)
	cfg := optionsConfig(t, interopOptions, drivertest.Transport(transport.Config{Type: "serial", Path: path, Baud: 9600}))
	d, err := thermometer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	col := drivertest.NewOutput()
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx, col) }()
	got := map[string]screening.Temperature{}
	for {
		changed := col.Changed() // before the look: a reading in between still wakes it
		for _, r := range col.Readings() {
			// The first polls may go out before pymodbus has opened its
			// end; those are faults, and the driver carries on.
			if p := r.Payload.(screening.Temperature); r.Quality.Status == reading.OK {
				got[p.Sensor] = p
			}
		}
		if len(got) >= 2 {
			break
		}
		select {
		case <-changed:
		case err := <-runErr:
			t.Fatalf("driver stopped: %v", err)
		case <-ctx.Done():
			t.Fatalf("no good reading from both slaves; readings %+v counts %v", col.Readings(), col.Counts())
		}
	}
	cancel()
	<-runErr
	lane := got["lane-1"]
	if *lane.Celsius != 36.5 || *lane.Housing != 24.8 || *lane.Emissivity != 0.95 || lane.Model != "calex-pyrousb" || lane.Fever {
		t.Errorf("lane-1: %+v", lane)
	}
	air := got["outdoor-air"]
	if *air.Celsius != -7.5 || *air.Humidity != 41.2 || air.Threshold != nil {
		t.Errorf("outdoor-air: %+v", air)
	}
}

func optionsConfig(t *testing.T, src string, seams ...drivertest.Seam) device.Config {
	t.Helper()
	return drivertest.Config(t, src, append([]drivertest.Seam{drivertest.ID("bus1")}, seams...)...)
}
