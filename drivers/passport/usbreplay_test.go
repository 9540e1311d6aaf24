package passport

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/kordon/kordon/hwtest/harness"
	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/transport"
	"github.com/kordon/kordon/internal/usbhid"
)

// replayUSB plays a trace's HID reports through the USB seam
// (usbhid.Replay) into the real driver, as harness.ReplayThroughPTY does
// for serial traces, and returns what the driver reported once every
// report has been handled.
func replayUSB(ctx context.Context, drv device.Driver, tr *trace.Trace, speed float64) (*harness.Collector, error) {
	hid := usbhid.NewReplay()
	// The player hooks the device's writes before the driver can write.
	player := replay.NewUSBPlayer(hid)
	w := &watchedHID{Device: hid}
	w.cond = sync.NewCond(&w.mu)
	opts, err := tr.Header.OptionsNode()
	if err != nil {
		return nil, err
	}
	t0 := tr.Header.Recorded
	start := time.Now()
	var opened usbhid.ID
	cfg := device.Config{
		ID:        "dev",
		Transport: transport.Config{Type: "usb", Vendor: "0c2e", Product: "0b61"},
		Options:   device.Options{File: "trace header", Node: opts},
		Clock:     func() time.Time { return t0.Add(time.Since(start)) },
		HID: func(id usbhid.ID) (usbhid.Device, error) {
			opened = id
			return w, nil
		},
	}
	dev, err := drv.New(cfg)
	if err != nil {
		return nil, err
	}
	col := harness.NewCollector()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- dev.Run(ctx, col) }()
	for col.Ups() == 0 {
		select {
		case <-col.Changed():
		case err := <-runErr:
			return col, fmt.Errorf("driver stopped before opening: %w", err)
		case <-ctx.Done():
			return col, ctx.Err()
		}
	}
	if opened.Vendor != 0x0c2e || opened.Product != 0x0b61 {
		return col, fmt.Errorf("driver opened %v, want 0c2e:0b61", opened)
	}
	if err := player.Play(ctx, tr, replay.Options{Speed: speed}); err != nil {
		return col, err
	}
	n := 0
	for _, e := range tr.Events {
		if e.USB != nil && e.USB.Endpoint&0x80 != 0 {
			n++
		}
	}
	// The driver reads the next report only after handling the last one:
	// a read begun after n reports means all n were handled.
	if err := w.waitReads(ctx, n+1); err != nil {
		return col, err
	}
	cancel()
	if err := <-runErr; err != nil {
		return col, err
	}
	return col, nil
}

// watchedHID counts the reads a driver begins.
type watchedHID struct {
	usbhid.Device
	mu    sync.Mutex
	cond  *sync.Cond
	reads int
}

func (w *watchedHID) ReadReport(ctx context.Context, b []byte) (int, error) {
	w.mu.Lock()
	w.reads++
	w.cond.Broadcast()
	w.mu.Unlock()
	return w.Device.ReadReport(ctx, b)
}

func (w *watchedHID) waitReads(ctx context.Context, n int) error {
	stop := context.AfterFunc(ctx, func() {
		w.mu.Lock()
		w.cond.Broadcast()
		w.mu.Unlock()
	})
	defer stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.reads < n && ctx.Err() == nil {
		w.cond.Wait()
	}
	return ctx.Err()
}
