package replay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/kordon/kordon/hwtest/trace"
)

// Options control a serial replay.
type Options struct {
	// Speed scales the trace's timing: 1 is real time, 10 is ten times
	// faster, 0 is as fast as ordering allows (device bytes are written at
	// once; poll answers still wait for their poll).
	Speed float64
	// Loop replays the trace again and again until ctx ends.
	Loop bool
	// Unexpected is called when the host sends bytes the trace did not
	// expect at that point; nil ignores them.
	Unexpected func(want, got []byte)
}

// Serial plays the device side of a trace into port: device->host bytes are
// written at their time; a host->device event makes the replay wait until
// the host has sent those bytes, so poll/response devices answer only after
// the poll they expect. It returns when the trace ends (or ctx does).
func Serial(ctx context.Context, t *trace.Trace, port io.ReadWriter, o Options) error {
	host := newHostReader(port)
	for {
		start := time.Now()
		for _, e := range t.Events {
			if o.Speed > 0 {
				due := start.Add(time.Duration(float64(e.T) / o.Speed))
				if err := sleepUntil(ctx, due); err != nil {
					return err
				}
			} else if ctx.Err() != nil {
				return ctx.Err()
			}
			if e.Host != nil {
				if err := host.expect(ctx, e.Host, o.Unexpected); err != nil {
					return err
				}
			}
			if e.Dev != nil {
				if _, err := port.Write(e.Dev); err != nil {
					return fmt.Errorf("replay write at %.3fs: %w", e.T.Seconds(), err)
				}
			}
		}
		if !o.Loop {
			return nil
		}
	}
}

func sleepUntil(ctx context.Context, due time.Time) error {
	d := time.Until(due)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// hostReader collects what the host writes, so expected polls can be matched.
type hostReader struct {
	buf  []byte
	data chan []byte
	err  chan error
}

func newHostReader(r io.Reader) *hostReader {
	h := &hostReader{data: make(chan []byte, 64), err: make(chan error, 1)}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			if n > 0 {
				h.data <- append([]byte(nil), b[:n]...)
			}
			if err != nil {
				h.err <- err
				return
			}
		}
	}()
	return h
}

func (h *hostReader) expect(ctx context.Context, want []byte, unexpected func(want, got []byte)) error {
	for {
		if i := bytes.Index(h.buf, want); i >= 0 {
			if i > 0 && unexpected != nil {
				unexpected(want, h.buf[:i])
			}
			h.buf = h.buf[i+len(want):]
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case b := <-h.data:
			h.buf = append(h.buf, b...)
		case err := <-h.err:
			return fmt.Errorf("waiting for host poll % x: %w", want, err)
		}
	}
}
