package replay

import (
	"bytes"
	"context"
	"time"

	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/usbhid"
)

// USB plays a trace's USB events into a usbhid.Replay that a driver reads
// through the drivers' USB seam: IN reports (endpoint 0x80 bit set) are
// pushed at their time; an OUT report (a poll) makes the replay wait until
// the driver has written it, so poll/response devices answer in order.
// It takes over dev.OnWrite; set nothing else there.
func USB(ctx context.Context, t *trace.Trace, dev *usbhid.Replay, o Options) error {
	writes := make(chan []byte, 256)
	dev.OnWrite = func(b []byte) {
		select {
		case writes <- append([]byte(nil), b...):
		default: // a driver writing faster than the trace expects: dropped
		}
	}
	for {
		start := time.Now()
		for i, e := range t.Events {
			if o.Speed > 0 {
				if err := sleepUntil(ctx, start.Add(time.Duration(float64(e.T)/o.Speed))); err != nil {
					return err
				}
			} else if ctx.Err() != nil {
				return ctx.Err()
			}
			if e.Unplug && o.Plug != nil {
				if err := o.Plug.Unplug(); err != nil {
					return err
				}
			}
			if e.USB == nil {
				continue
			}
			if e.USB.Endpoint&0x80 != 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				default:
					dev.Push(e.USB.Data)
				}
			} else if err := waitWrite(ctx, writes, e, o); err != nil {
				return err
			}
			if o.OnEvent != nil {
				o.OnEvent(i, e)
			}
		}
		if !o.Loop {
			return nil
		}
	}
}

func waitWrite(ctx context.Context, writes <-chan []byte, e trace.Event, o Options) error {
	var timeout <-chan time.Time
	if o.ExpectTimeout > 0 {
		tm := time.NewTimer(o.ExpectTimeout)
		defer tm.Stop()
		timeout = tm.C
	}
	var got []byte
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout:
			return &UnexpectedError{At: e.T, Want: e.USB.Data, Got: got}
		case b := <-writes:
			if bytes.Equal(b, e.USB.Data) {
				return nil
			}
			got = b
			if o.Unexpected != nil {
				o.Unexpected(e.USB.Data, b)
			}
		}
	}
}
