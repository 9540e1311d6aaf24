// Package usbhidtest is a USB HID device fed with recorded reports, for
// tests and trace replays; edged opens real devices through libusb and
// never links it.
package usbhidtest

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/kordon/kordon/internal/usbhid"
)

var _ usbhid.Device = (*Device)(nil)

// Device is a usbhid.Device fed with recorded reports: tests and hwtest push
// reports in, the driver reads them as it would from the interrupt endpoint,
// and writes are recorded for inspection.
type Device struct {
	reports chan []byte
	mu      sync.Mutex
	written [][]byte
	closed  chan struct{}
	once    sync.Once
	// OnWrite, if set, sees each report the driver writes (a poll), so a
	// replayer can answer poll/response devices in order.
	OnWrite func(b []byte)
}

// New returns an open device.
func New() *Device {
	return &Device{reports: make(chan []byte, 256), closed: make(chan struct{})}
}

// Push queues one input report. It blocks while the queue is full.
func (r *Device) Push(b []byte) { r.reports <- append([]byte(nil), b...) }

// Unplug ends the device: pending and future reads fail with io.EOF.
func (r *Device) Unplug() { r.once.Do(func() { close(r.closed) }) }

func (r *Device) ReadReport(ctx context.Context, b []byte) (int, error) {
	select {
	case rep := <-r.reports:
		return copy(b, rep), nil
	case <-r.closed:
		return 0, io.EOF
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (r *Device) WriteReport(b []byte) error {
	select {
	case <-r.closed:
		return errors.New("usbhidtest: unplugged")
	default:
	}
	r.mu.Lock()
	r.written = append(r.written, append([]byte(nil), b...))
	f := r.OnWrite
	r.mu.Unlock()
	if f != nil {
		f(b)
	}
	return nil
}

// Written returns the reports the driver wrote.
func (r *Device) Written() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.written...)
}

func (r *Device) Close() error { r.Unplug(); return nil }
