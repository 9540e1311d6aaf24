package usbhid

import (
	"context"
	"errors"
	"io"
	"sync"
)

// Replay is a Device fed with recorded reports: tests and hwtest push
// reports in, the driver reads them as it would from the interrupt endpoint,
// and writes are recorded for inspection.
type Replay struct {
	reports chan []byte
	mu      sync.Mutex
	written [][]byte
	closed  chan struct{}
	once    sync.Once
	// OnWrite, if set, sees each report the driver writes (a poll), so a
	// replayer can answer poll/response devices in order.
	OnWrite func(b []byte)
}

// NewReplay returns an open replay device.
func NewReplay() *Replay {
	return &Replay{reports: make(chan []byte, 256), closed: make(chan struct{})}
}

// Push queues one input report. It blocks while the queue is full.
func (r *Replay) Push(b []byte) { r.reports <- append([]byte(nil), b...) }

// Unplug ends the device: pending and future reads fail with io.EOF.
func (r *Replay) Unplug() { r.once.Do(func() { close(r.closed) }) }

func (r *Replay) ReadReport(ctx context.Context, b []byte) (int, error) {
	select {
	case rep := <-r.reports:
		return copy(b, rep), nil
	case <-r.closed:
		return 0, io.EOF
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (r *Replay) WriteReport(b []byte) error {
	select {
	case <-r.closed:
		return errors.New("usbhid replay: unplugged")
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
func (r *Replay) Written() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.written...)
}

func (r *Replay) Close() error { r.Unplug(); return nil }
