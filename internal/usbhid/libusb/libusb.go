// Package libusb opens real USB HID devices through gousb (cgo, libusb-1.0).
// It is the only package that needs cgo; tests use usbhidtest.Device instead.
package libusb

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/gousb"

	"github.com/kordon/kordon/internal/usbhid"
)

// Open opens a real device through libusb (gousb), detaching the kernel's
// HID driver so the box reads the reports itself.
func Open(id usbhid.ID) (usbhid.Device, error) {
	ctx := gousb.NewContext()
	dev, err := ctx.OpenDeviceWithVIDPID(gousb.ID(id.Vendor), gousb.ID(id.Product))
	if err != nil || dev == nil {
		ctx.Close()
		if err == nil {
			err = errors.New("not connected")
		}
		return nil, fmt.Errorf("usb %s: %w", id, err)
	}
	if err := dev.SetAutoDetach(true); err != nil {
		dev.Close()
		ctx.Close()
		return nil, fmt.Errorf("usb %s: detach kernel driver: %w", id, err)
	}
	cfgNum, err := dev.ActiveConfigNum()
	if err != nil {
		dev.Close()
		ctx.Close()
		return nil, fmt.Errorf("usb %s: %w", id, err)
	}
	cfg, err := dev.Config(cfgNum)
	if err != nil {
		dev.Close()
		ctx.Close()
		return nil, fmt.Errorf("usb %s: config: %w", id, err)
	}
	intf, err := cfg.Interface(id.Interface, 0)
	if err != nil {
		cfg.Close()
		dev.Close()
		ctx.Close()
		return nil, fmt.Errorf("usb %s: interface %d: %w", id, id.Interface, err)
	}
	g := &gousbDevice{ctx: ctx, dev: dev, cfg: cfg, intf: intf, iface: id.Interface}
	for _, ep := range intf.Setting.Endpoints {
		switch {
		case ep.Direction == gousb.EndpointDirectionIn && g.in == nil:
			if g.in, err = intf.InEndpoint(ep.Number); err != nil {
				g.Close()
				return nil, fmt.Errorf("usb %s: in endpoint: %w", id, err)
			}
		case ep.Direction == gousb.EndpointDirectionOut && g.out == nil:
			if g.out, err = intf.OutEndpoint(ep.Number); err != nil {
				g.Close()
				return nil, fmt.Errorf("usb %s: out endpoint: %w", id, err)
			}
		}
	}
	if g.in == nil {
		g.Close()
		return nil, fmt.Errorf("usb %s: interface %d has no IN endpoint", id, id.Interface)
	}
	return g, nil
}

type gousbDevice struct {
	ctx   *gousb.Context
	dev   *gousb.Device
	cfg   *gousb.Config
	intf  *gousb.Interface
	in    *gousb.InEndpoint
	out   *gousb.OutEndpoint
	iface int
	once  sync.Once
}

func (g *gousbDevice) ReadReport(ctx context.Context, b []byte) (int, error) {
	return g.in.ReadContext(ctx, b)
}

func (g *gousbDevice) WriteReport(b []byte) error {
	if g.out != nil {
		_, err := g.out.Write(b)
		return err
	}
	// HID SET_REPORT (output report 0) on the control endpoint.
	const setReport, outputReport = 0x09, 0x02
	_, err := g.dev.Control(gousb.ControlOut|gousb.ControlClass|gousb.ControlInterface,
		setReport, outputReport<<8, uint16(g.iface), b)
	return err
}

func (g *gousbDevice) Close() error {
	g.once.Do(func() {
		g.intf.Close()
		g.cfg.Close()
		g.dev.Close()
		g.ctx.Close()
	})
	return nil
}
