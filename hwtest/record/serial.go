package record

import (
	"context"
	"fmt"
	"time"

	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/transport"
)

// pollEvery bounds how long a blocked read goes without checking ctx.
const pollEvery = 100 * time.Millisecond

// Opener opens a port; Serial calls it again after an unplug when reopening.
type Opener func() (transport.Port, error)

// SerialOptions tune a passive serial recording.
type SerialOptions struct {
	// Reopen keeps recording across unplugs: the port is reopened (every
	// ReopenEvery, default 500ms) and the trace gets unplug/replug events.
	Reopen      bool
	ReopenEvery time.Duration
	// OnOpen, if set, is called each time the port has been opened.
	OnOpen func()
}

// Serial records everything a device sends on one port until ctx ends.
// It only reads: nothing is ever written to the device.
func Serial(ctx context.Context, open Opener, rec *Recorder, o SerialOptions) error {
	if o.ReopenEvery <= 0 {
		o.ReopenEvery = 500 * time.Millisecond
	}
	first := true
	for {
		port, err := open()
		if err != nil {
			if first || !o.Reopen {
				return err
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(o.ReopenEvery):
				continue
			}
		}
		if !first {
			rec.Record(trace.Event{Replug: true})
		}
		if o.OnOpen != nil {
			o.OnOpen()
		}
		first = false
		err = readInto(ctx, port, func(at time.Time, b []byte) error { return rec.Dev(at, b) })
		port.Close()
		if ctx.Err() != nil {
			return rec.Err()
		}
		rec.Record(trace.Event{Unplug: true, Note: "port failed: " + err.Error()})
		if !o.Reopen {
			return fmt.Errorf("device port: %w", err)
		}
	}
}

// readInto reads port until ctx ends or the port fails, handing each chunk
// (stamped with the time the read returned) to got.
func readInto(ctx context.Context, port transport.Port, got func(time.Time, []byte) error) error {
	if err := port.SetReadTimeout(pollEvery); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	for ctx.Err() == nil {
		n, err := port.Read(buf)
		at := time.Now()
		if n > 0 {
			if werr := got(at, buf[:n]); werr != nil {
				return werr
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Between sits between host software and a device on two ports and
// forwards every byte both ways unchanged, recording device->host bytes as
// dev and host->device bytes as host. Each chunk is recorded before it is
// forwarded: a poll is then always in the trace before the answer it
// caused, which a poll/response replay depends on. (Recording a chunk is a
// buffered file write, microseconds against the milliseconds a byte takes
// on a serial line.) It returns when ctx ends or either port fails (a
// failing device is recorded as an unplug).
func Between(ctx context.Context, host, dev transport.Port, rec *Recorder) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	go func() {
		err := readInto(ctx, dev, func(at time.Time, b []byte) error {
			if err := rec.Dev(at, b); err != nil {
				return err
			}
			if err := writeAll(host, b); err != nil {
				return fmt.Errorf("host port: %w", err)
			}
			return nil
		})
		if err != nil && ctx.Err() == nil {
			rec.Record(trace.Event{Unplug: true, Note: "device side failed: " + err.Error()})
			err = fmt.Errorf("device side: %w", err)
		}
		cancel()
		errs <- err
	}()
	go func() {
		err := readInto(ctx, host, func(at time.Time, b []byte) error {
			if err := rec.Host(at, b); err != nil {
				return err
			}
			if err := writeAll(dev, b); err != nil {
				return fmt.Errorf("device port: %w", err)
			}
			return nil
		})
		if err != nil && ctx.Err() == nil {
			err = fmt.Errorf("host side: %w", err)
		}
		cancel()
		errs <- err
	}()
	e1, e2 := <-errs, <-errs
	if e1 != nil {
		return e1
	}
	if e2 != nil {
		return e2
	}
	return rec.Err()
}

func writeAll(p transport.Port, b []byte) error {
	for len(b) > 0 {
		n, err := p.Write(b)
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// Tap wraps a port a driver uses so that everything it reads is recorded as
// dev and everything it writes as host (hwtest accept records a live
// session this way). It passes every call straight through.
type Tap struct {
	transport.Port
	Rec *Recorder
}

func (t *Tap) Read(b []byte) (int, error) {
	n, err := t.Port.Read(b)
	if n > 0 {
		t.Rec.Dev(time.Now(), b[:n])
	}
	return n, err
}

func (t *Tap) Write(b []byte) (int, error) {
	at := time.Now()
	n, err := t.Port.Write(b)
	if n > 0 {
		t.Rec.Host(at, b[:n])
	}
	return n, err
}
