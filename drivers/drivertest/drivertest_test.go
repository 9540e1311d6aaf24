package drivertest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/transport"
	"github.com/kordon/kordon/internal/usbhid"
	"periph.io/x/conn/v3/gpio"
)

// TestOutputKeepsEventsInOrderAndWakesWaiters: what a device reports is
// kept in order, readings are numbered as the outbox would, and a waiter
// is woken by the event it waits for, not by a timer.
func TestOutputKeepsEventsInOrderAndWakesWaiters(t *testing.T) {
	o := NewOutput()
	var streamed []uint64
	o.OnEmit = func(r reading.Reading) { streamed = append(streamed, r.Seq) }
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- o.WaitUntil(ctx, func(o *Output) bool { return o.Has("down:timeout") })
	}()
	o.Up()
	o.Emit(reading.Reading{})
	o.Count("noise", 2)
	o.Count("noise", 1)
	o.Emit(reading.Reading{})
	o.Down(device.Timeout, "no answer")
	if err := <-done; err != nil {
		t.Fatalf("waiter not woken: %v", err)
	}
	want := []string{"up", "emit", "count:noise", "count:noise", "emit", "down:timeout"}
	if got := o.Events(); len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	} else {
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("events %v, want %v", got, want)
			}
		}
	}
	rs := o.Readings()
	if len(rs) != 2 || rs[0].Seq != 1 || rs[1].Seq != 2 || len(streamed) != 2 || streamed[1] != 2 {
		t.Errorf("readings %+v, streamed %v", rs, streamed)
	}
	if o.Counts()["noise"] != 3 || o.Ups() != 1 || len(o.Downs()) != 1 || o.NumReadings() != 2 {
		t.Errorf("counts %v ups %d downs %v", o.Counts(), o.Ups(), o.Downs())
	}
	o.Reset()
	if o.NumReadings() != 0 || len(o.Events()) != 0 || len(o.Counts()) != 0 || o.Ups() != 0 {
		t.Errorf("after Reset: %v", o.Events())
	}
}

// TestConfigOptionsNameTheirFile: options built here name box.yaml and
// their line in errors, as a box config's would.
func TestConfigOptionsNameTheirFile(t *testing.T) {
	c := Config(t, "a: 1\nb: 2", ID("r1"))
	var v struct {
		A int `yaml:"a"`
	}
	err := c.Options.Decode(&v)
	if c.ID != "r1" || err == nil || !strings.HasPrefix(err.Error(), "box.yaml:2: b: unknown option") {
		t.Errorf("id %q, err %v", c.ID, err)
	}
	if c := Config(t, ""); c.ID != "dev" || c.Options.Node != nil {
		t.Errorf("empty options: %+v", c)
	}
}

// TestConfigIsBuildable: a config built here with a transport and its
// kind's opener passes the driver contract's checks (a clock, a transport
// of the driver's port kind, that kind's opener); a serial transport
// without a Stream seam is opened for real.
func TestConfigIsBuildable(t *testing.T) {
	built := func(kind device.PortKind, cfg device.Config) error {
		drv := device.Driver{Name: "t", Ports: []device.PortKind{kind},
			New: func(device.Config) (device.Device, error) { return nil, nil }}
		_, err := drv.Build(cfg)
		return err
	}
	noStream := func(context.Context) (transport.Port, error) { return nil, errors.New("none") }
	noHID := func(usbhid.ID) (usbhid.Device, error) { return nil, errors.New("none") }
	noPin := func(string) (gpio.PinIO, error) { return nil, errors.New("none") }
	tr := func(typ string) Seam { return Transport(transport.Config{Type: typ, Path: t.TempDir()}) }
	for _, c := range []struct {
		kind device.PortKind
		cfg  device.Config
	}{
		{device.Stream, Config(t, "", tr("serial"), Stream(noStream))},
		{device.Stream, Config(t, "", tr("serial"))},
		{device.HID, Config(t, "", tr("usb"), HID(noHID))},
		{device.Pin, Config(t, "", tr("gpio"), Pins(noPin))},
		{device.Folder, Config(t, "", tr("folder"))},
	} {
		if err := built(c.kind, c.cfg); err != nil {
			t.Errorf("%s (transport %q): %v", c.kind, c.cfg.Transport.Type, err)
		}
	}
	if err := built(device.HID, Config(t, "", tr("usb"))); err == nil {
		t.Error("a usb config with no HID opener was built")
	}
}
