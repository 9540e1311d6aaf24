package passport

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/keyboard"
	"github.com/kordon/kordon/internal/usbhid"
)

// runWedge reads a USB keyboard-wedge reader: boot-keyboard reports from
// its interrupt IN endpoint (internal/usbhid; libusb on a box, Replay in
// tests), decoded through the reader's layout into rows ended by Enter.
// The kernel's HID driver is detached, so the MRZ never reaches the box's
// console or any other program as key strokes.
func (r *reader) runWedge(ctx context.Context, out device.Output) error {
	id, err := usbhid.ParseID(r.cfg.Transport.Vendor, r.cfg.Transport.Product)
	if err != nil && r.cfg.Transport.Type == "usb" {
		return &device.Fault{Reason: device.Unplugged, Err: err}
	}
	id.Interface = r.opts.Interface
	dev, err := r.cfg.HID(id)
	if err != nil {
		return &device.Fault{Reason: device.Unplugged, Err: err}
	}
	defer dev.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Reports are read on their own goroutine so the loop below can notice
	// a torn row or an expired row gap while the reader is silent, without
	// cancelling USB transfers on every tick.
	type report struct {
		b   []byte
		err error
	}
	// One report in flight: the next read starts only once the loop has
	// handled the previous report. A replay then knows that a read it sees
	// means everything before was acted on, and a slow loop leaves reports
	// queued in the device, as HID devices expect.
	reports := make(chan report)
	handled := make(chan struct{})
	go func() {
		for {
			b := make([]byte, 64)
			n, err := dev.ReadReport(ctx, b)
			select {
			case reports <- report{b[:n], err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
			select {
			case <-handled:
			case <-ctx.Done():
				return
			}
		}
	}()

	now := r.cfg.Clock
	s := r.newSession(out)
	kb := keyboard.NewRows(r.layout)
	kb.MaxLen = 128
	kb.Count = out.Count
	out.Up()
	tk := time.NewTicker(tick)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case rep := <-reports:
			if rep.err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return &device.Fault{Reason: device.Unplugged, Err: fmt.Errorf("wedge: %w", rep.err)}
			}
			for _, row := range kb.Feed(rep.b, now()) {
				if row.Unmapped > 0 {
					out.Count("keys_unmapped", row.Unmapped)
				}
				s.row(asciiRow(row.Text), row.At, row.End)
			}
			handled <- struct{}{}
		case <-tk.C:
		}
		t := now()
		if n, last := kb.Pending(); n > 0 && t.Sub(last) > r.opts.RowGap {
			out.Count("chars_torn", kb.Drop())
		}
		s.expire(t)
	}
}

// asciiRow keeps MRZ positions: every character the layout typed that is
// not ASCII (a Cyrillic letter from a misconfigured reader, an unmapped
// key) stands as '?' so the row keeps its length and its checks fail
// visibly rather than shifting every position after it.
func asciiRow(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c > 0x7e || c < 0x20 {
			c = '?'
		}
		b.WriteRune(c)
	}
	return b.String()
}
