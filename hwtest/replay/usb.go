package replay

import (
	"bytes"
	"context"
	"time"

	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/usbhid/usbhidtest"
)

// USB plays a trace's USB events into a usbhidtest.Device that a driver reads
// through the drivers' USB seam: IN reports (endpoint 0x80 bit set) are
// pushed at their time; an OUT report (a poll) makes the replay wait until
// the driver has written it, so poll/response devices answer in order.
// It takes over dev.OnWrite; set nothing else there. When the driver may
// already be running, use NewUSBPlayer before starting it instead: setting
// OnWrite under a running driver is a data race.
func USB(ctx context.Context, t *trace.Trace, dev *usbhidtest.Device, o Options) error {
	return NewUSBPlayer(dev).Play(ctx, t, o)
}

// USBPlayer plays traces into one usbhidtest.Device.
type USBPlayer struct {
	dev    *usbhidtest.Device
	writes chan []byte
}

// NewUSBPlayer installs the player's write hook on dev. Call it before the
// driver gets dev.
func NewUSBPlayer(dev *usbhidtest.Device) *USBPlayer {
	p := &USBPlayer{dev: dev, writes: make(chan []byte, 256)}
	dev.OnWrite = func(b []byte) {
		select {
		case p.writes <- append([]byte(nil), b...):
		default: // a driver writing far more than the trace expects: dropped
		}
	}
	return p
}

// Play plays t's USB events (see USB).
func (p *USBPlayer) Play(ctx context.Context, t *trace.Trace, o Options) error {
	dev, writes := p.dev, p.writes
	for {
		pace := newPacer(o)
		for i, e := range t.Events {
			if err := pace.wait(ctx, e.T); err != nil {
				return err
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
			} else {
				if err := waitWrite(ctx, writes, e, o); err != nil {
					return err
				}
				pace.anchor()
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
