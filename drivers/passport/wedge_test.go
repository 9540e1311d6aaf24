package passport

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/keyboard"
	"github.com/kordon/kordon/internal/transport"
	"github.com/kordon/kordon/internal/usbhid"
	"github.com/kordon/kordon/internal/usbhid/usbhidtest"
)

// An unplugged wedge ends Run with an "unplugged" fault (the edge retries
// with backoff); a row typed before it is not lost.
func TestWedgeUnplugIsAFault(t *testing.T) {
	hid := usbhidtest.New()
	cfg := configWith(t, "framing: wedge", drivertest.HID(func(usbhid.ID) (usbhid.Device, error) { return hid, nil }))
	dev, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	col := drivertest.NewOutput()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- dev.Run(ctx, col) }()
	presses, _ := keyboard.US().Encode(td3[0] + "\r" + td3[1] + "\r")
	for _, r := range keyboard.Reports(presses) {
		hid.Push(r)
	}
	for {
		changed := col.Changed() // before the look: a reading in between still wakes it
		if len(col.Readings()) > 0 {
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatal("no reading")
		}
	}
	hid.Unplug()
	err = <-done
	if device.ReasonOf(err) != device.Unplugged {
		t.Errorf("Run returned %v, want an unplugged fault", err)
	}
	if q := col.Readings()[0].Quality.Status; q != "ok" {
		t.Errorf("reading quality %s", q)
	}
}

func TestWedgeWithoutUSBAccess(t *testing.T) {
	usb := drivertest.Transport(transport.Config{Type: "usb", Vendor: "05e0", Product: "1200"})
	if _, err := Driver().Build(drivertest.Config(t, "framing: wedge", usb)); err == nil {
		t.Error("built a wedge reader without USB access")
	}
	dev, err := Driver().Build(drivertest.Config(t, "framing: wedge", usb,
		drivertest.HID(func(usbhid.ID) (usbhid.Device, error) { return nil, errors.New("not connected") })))
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.Run(context.Background(), drivertest.NewOutput()); device.ReasonOf(err) != device.Unplugged {
		t.Errorf("Run with a failing open: %v", err)
	}
}

// TestWedgeOneLineAndPaddedRows: a wedge reader typing the whole MRZ as
// one line, and one padding its rows with spaces, are both read.
func TestWedgeOneLineAndPaddedRows(t *testing.T) {
	hid := usbhidtest.New()
	cfg := configWith(t, "framing: wedge", drivertest.HID(func(usbhid.ID) (usbhid.Device, error) { return hid, nil }))
	dev, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	col := drivertest.NewOutput()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go dev.Run(ctx, col)
	presses, _ := keyboard.US().Encode(td3[0] + td3[1] + "\r" + td3[0] + "  \r" + td3[1] + " \r")
	for _, r := range keyboard.Reports(presses) {
		hid.Push(r)
	}
	for {
		changed := col.Changed() // before the look: a reading in between still wakes it
		if len(col.Readings()) >= 2 {
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("%d readings, want 2", len(col.Readings()))
		}
	}
	for i, r := range col.Readings() {
		if r.Quality.Status != "ok" {
			t.Errorf("reading %d: quality %+v", i+1, r.Quality)
		}
	}
}
