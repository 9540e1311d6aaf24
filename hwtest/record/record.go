// Package record captures what devices send (and what hosts send them)
// into the trace format (docs/trace-format.md): serial ports passively or
// as a man in the middle, GPIO edges through periph.io pins, and USB HID
// reports through the usbhid seam. Recording never changes the traffic:
// bytes are forwarded first, exactly as read, and written to the trace after.
package record

import (
	"io"
	"sync"
	"time"

	"github.com/kordon/kordon/hwtest/trace"
)

// Recorder appends timed events to one trace. It is safe for concurrent
// use: both directions of a man-in-the-middle and several GPIO lines share one.
type Recorder struct {
	// OnEvent, if set, sees each event once it is written (progress, tests).
	OnEvent func(trace.Event)

	mu    sync.Mutex
	w     *trace.Writer
	start time.Time
	last  time.Duration
	err   error
	stats Stats
}

// Stats counts what a recording holds.
type Stats struct {
	Events    int
	DevBytes  int64
	HostBytes int64
	GPIO      int
	USB       int
	Notes     int
}

// New writes the trace header (Recorded is set to now when zero) and
// starts the clock every event offset is measured from.
func New(w io.Writer, h trace.Header) (*Recorder, error) {
	now := time.Now()
	if h.Recorded.IsZero() {
		h.Recorded = now.UTC().Truncate(time.Millisecond)
	}
	tw, err := trace.NewWriter(w, h)
	if err != nil {
		return nil, err
	}
	return &Recorder{w: tw, start: now}, nil
}

// Since is the offset of time t from the start of the recording.
func (r *Recorder) Since(t time.Time) time.Duration { return t.Sub(r.start) }

// Record appends e. A zero e.T is stamped now; offsets never go back, so
// two directions stamped a few microseconds apart keep the file ordered.
// After a write error the recorder keeps the first error and drops events.
func (r *Recorder) Record(e trace.Event) error {
	if e.T == 0 {
		e.T = time.Since(r.start)
	}
	r.mu.Lock()
	if r.err != nil {
		r.mu.Unlock()
		return r.err
	}
	if e.T < r.last {
		e.T = r.last
	}
	r.last = e.T
	if err := r.w.Write(e); err != nil {
		r.err = err
		r.mu.Unlock()
		return err
	}
	s := &r.stats
	s.Events++
	s.DevBytes += int64(len(e.Dev))
	s.HostBytes += int64(len(e.Host))
	if e.GPIO != nil {
		s.GPIO++
	}
	if e.USB != nil {
		s.USB++
	}
	if e.Note != "" {
		s.Notes++
	}
	f := r.OnEvent
	r.mu.Unlock()
	if f != nil {
		f(e)
	}
	return nil
}

// Dev records bytes the device sent, read at time at.
func (r *Recorder) Dev(at time.Time, b []byte) error {
	return r.Record(trace.Event{T: r.stamp(at), Dev: append([]byte(nil), b...)})
}

// Host records bytes the host sent the device, read at time at.
func (r *Recorder) Host(at time.Time, b []byte) error {
	return r.Record(trace.Event{T: r.stamp(at), Host: append([]byte(nil), b...)})
}

// Note records an annotation ("officer presents specimen").
func (r *Recorder) Note(s string) error {
	return r.Record(trace.Event{T: r.stamp(time.Now()), Note: s})
}

func (r *Recorder) stamp(at time.Time) time.Duration {
	d := at.Sub(r.start)
	if d <= 0 {
		d = 1 // zero means "stamp now" to Record
	}
	return d
}

// Stats returns what has been recorded so far.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Err is the first write error, if any.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}
