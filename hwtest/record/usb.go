package record

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/usbhid"
)

// Endpoint addresses recorded for HID traffic: reports read from the
// interrupt IN endpoint and reports the host writes (polls).
const (
	EndpointIn  = 0x81
	EndpointOut = 0x01
)

// USBOptions tune a USB HID recording.
type USBOptions struct {
	// Poll, when set, is written every Every before reading (devices such as
	// TEMPer thermometers only answer a request). Nil records passively.
	Poll  []byte
	Every time.Duration // default 1s
}

// USB records the input reports of a HID device until ctx ends.
func USB(ctx context.Context, dev usbhid.Device, rec *Recorder, o USBOptions) error {
	if o.Every <= 0 {
		o.Every = time.Second
	}
	buf := make([]byte, 64)
	for ctx.Err() == nil {
		if o.Poll != nil {
			at := time.Now()
			if err := dev.WriteReport(o.Poll); err != nil {
				rec.Record(trace.Event{Unplug: true, Note: "usb write failed: " + err.Error()})
				return fmt.Errorf("usb poll: %w", err)
			}
			rec.Record(trace.Event{T: rec.stamp(at), USB: &trace.USB{Endpoint: EndpointOut, Data: append([]byte(nil), o.Poll...)}})
		}
		rctx, cancel := context.WithTimeout(ctx, o.Every)
		for {
			n, err := dev.ReadReport(rctx, buf)
			if err != nil {
				cancel()
				if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
					break
				}
				rec.Record(trace.Event{Unplug: true, Note: "usb read failed: " + err.Error()})
				return fmt.Errorf("usb read: %w", err)
			}
			rec.Record(trace.Event{T: rec.stamp(time.Now()), USB: &trace.USB{Endpoint: EndpointIn, Data: append([]byte(nil), buf[:n]...)}})
			if o.Poll != nil {
				// One answer per poll; the next poll is due at its interval.
				<-rctx.Done()
				cancel()
				break
			}
		}
	}
	return rec.Err()
}

// TapHID wraps a HID device a driver uses so its reads and writes are
// recorded (hwtest accept); every call passes straight through.
type TapHID struct {
	usbhid.Device
	Rec *Recorder
}

func (t *TapHID) ReadReport(ctx context.Context, b []byte) (int, error) {
	n, err := t.Device.ReadReport(ctx, b)
	if err == nil {
		t.Rec.Record(trace.Event{T: t.Rec.stamp(time.Now()), USB: &trace.USB{Endpoint: EndpointIn, Data: append([]byte(nil), b[:n]...)}})
	}
	return n, err
}

func (t *TapHID) WriteReport(b []byte) error {
	at := time.Now()
	err := t.Device.WriteReport(b)
	if err == nil {
		t.Rec.Record(trace.Event{T: t.Rec.stamp(at), USB: &trace.USB{Endpoint: EndpointOut, Data: append([]byte(nil), b...)}})
	}
	return err
}
