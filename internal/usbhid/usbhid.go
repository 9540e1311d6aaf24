// Package usbhid is the seam between drivers and USB HID devices (keyboard
// wedge readers, HID thermometers). Drivers use the small Device interface;
// Open reaches real hardware through gousb (libusb), and tests replay
// recorded reports through Replay.
package usbhid

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Device is an open HID device.
type Device interface {
	// ReadReport reads one input report from the interrupt IN endpoint into
	// b and returns its length. It returns ctx's error when ctx ends.
	ReadReport(ctx context.Context, b []byte) (int, error)
	// WriteReport sends an output report (interrupt OUT, or SET_REPORT
	// when the device has no OUT endpoint).
	WriteReport(b []byte) error
	Close() error
}

// ID names a device by vendor and product.
type ID struct {
	Vendor, Product uint16
	// Interface is the HID interface number (TEMPer devices answer on 1).
	Interface int
}

func (id ID) String() string { return fmt.Sprintf("%04x:%04x", id.Vendor, id.Product) }

// ParseID reads hex vendor and product ids ("413d", "0x2107").
func ParseID(vendor, product string) (ID, error) {
	v, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(vendor), "0x"), 16, 16)
	if err != nil {
		return ID{}, fmt.Errorf("vendor %q: want a hex id like 413d", vendor)
	}
	p, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(product), "0x"), 16, 16)
	if err != nil {
		return ID{}, fmt.Errorf("product %q: want a hex id like 2107", product)
	}
	return ID{Vendor: uint16(v), Product: uint16(p)}, nil
}

// Opener opens a HID device; drivers take one so tests can swap it.
type Opener func(id ID) (Device, error)
