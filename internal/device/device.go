// Package device is the contract between the edge box and a driver family:
// a Driver describes a family, a Device is one configured instance of it.
//
// The interface is deliberately small (periph.io style): a device has one
// method, Run, and reports through an Output. Everything else — supervision,
// sequence numbers, the outbox, MQTT — belongs to the edge, not the driver.
package device

import (
	"context"
	"errors"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/transport"
	"github.com/kordon/kordon/internal/usbhid"
)

// Driver describes one device family. A family registers one Driver value
// in drivers/drivers.go.
type Driver struct {
	Name string // the name used in a box config: driver: mrz
	Kind string // the payload kind its readings carry
	Doc  string // one line for `hwtest drivers` and error messages

	// New builds a device from its config. It validates options and returns
	// an error naming the field; it does not open anything.
	New func(cfg Config) (Device, error)
}

// A family's payload schema is the file <kind>.schema.json in its folder;
// package drivers embeds them all so the hub can validate any kind without
// linking driver code.

// Config is one device entry of a box config.
type Config struct {
	ID        string
	Transport transport.Config
	Options   Options
	// Now is the box clock. Drivers take reading times from it so tests and
	// replays can control time; nil means time.Now.
	Now func() time.Time
	// Port, when set, opens the device's byte stream instead of the
	// transport (hwtest decode hands standard input to a driver this way).
	Port func() (transport.Port, error)
	// OpenHID opens a USB HID device. edged sets it to the libusb backend;
	// tests and hwtest hand in usbhid.Replay devices.
	OpenHID usbhid.Opener
	// OpenPin opens a GPIO line by name. edged sets it to periph.io
	// (internal/gpioline); tests hand in gpioline.Fake pins.
	OpenPin func(name string) (gpio.PinIO, error)
	// StateDir is a folder on the box's persistent disk that is this
	// device's own, for state a driver must keep across restarts (created
	// by the driver when it first writes). Empty: nothing is kept.
	StateDir string
}

// OpenPort opens the device's byte stream: the Port override, or the
// configured serial transport.
func (c Config) OpenPort() (transport.Port, error) {
	if c.Port != nil {
		return c.Port()
	}
	return transport.OpenSerial(c.Transport)
}

// Clock returns the configured clock.
func (c Config) Clock() func() time.Time {
	if c.Now == nil {
		return time.Now
	}
	return c.Now
}

// A Device runs one physical device.
type Device interface {
	// Run opens the device, reads it until ctx is done or the device fails,
	// and returns why it stopped (nil only when ctx ended). The edge calls
	// Run again, with backoff, after an error: Run must open afresh each time.
	Run(ctx context.Context, out Output) error
}

// Output receives what a running device observes.
type Output interface {
	// Emit hands over one reading. Origin must be the time the frame's first
	// byte arrived. Emit returns once the reading is durably taken.
	Emit(r reading.Reading)
	// Up says the device is open and answering.
	Up()
	// Down says the device is open but not usable (e.g. a poll timed out),
	// with a reason from the Reason constants.
	Down(reason Reason, detail string)
	// Count records discarded input (noise bytes, bad CRC, torn frames) by
	// a short stable name. It never carries the discarded bytes themselves.
	Count(what string, n int)
}

// Reason is why a device is unavailable (docs/mqtt.md, availability).
type Reason string

const (
	Unplugged Reason = "unplugged" // the port vanished or could not be opened
	Timeout   Reason = "timeout"   // the device stopped answering
	Errors    Reason = "errors"    // the device answers, but with errors
	Stopped   Reason = "stopped"   // the box is shutting down
)

// Fault is an error a Run returns with a known availability reason.
type Fault struct {
	Reason Reason
	Err    error
}

func (f *Fault) Error() string { return string(f.Reason) + ": " + f.Err.Error() }
func (f *Fault) Unwrap() error { return f.Err }

// ReasonOf classifies an error returned by Run.
func ReasonOf(err error) Reason {
	var f *Fault
	if errors.As(err, &f) {
		return f.Reason
	}
	if errors.Is(err, context.Canceled) {
		return Stopped
	}
	return Unplugged
}
