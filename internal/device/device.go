// Package device is the contract between the edge box and a driver family:
// a Driver describes a family, a Device is one configured instance of it.
//
// The interface is deliberately small (periph.io style): a device has one
// method, Run, and reports through an Output. Everything else — supervision,
// sequence numbers, the outbox, MQTT — belongs to the edge, not the driver.
//
// A device reaches its hardware through exactly one typed opener, the one
// for the port kind its transport names (Stream, HID or Pin), and takes its
// times from the Clock it is given. Nothing is found by type assertion: what
// a family offers beyond Run is a field of its Driver.
package device

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/kordon/kordon/internal/actuator"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/transport"
	"github.com/kordon/kordon/internal/usbhid"
)

// Driver describes one device family. A family registers one Driver value
// in drivers/all.
type Driver struct {
	Name string // the name used in a box config: driver: mrz
	Kind string // the payload kind its readings carry
	Doc  string // one line for `hwtest drivers` and error messages

	// Aliases are older names a box config may still use for the driver.
	Aliases []string

	// Ports are the port kinds the family's devices are wired through. A
	// box config's transport must name one of them (PortOf), and the device
	// is handed the opener of that kind only.
	Ports []PortKind

	// Routine, when set, says whether a reading of the family is routine
	// telemetry that may be dropped oldest-first when the box's outbox is
	// full (docs/delivery.md). Nil: every reading is protected. The box
	// asks only for readings whose quality is ok.
	Routine func(reading.Reading) bool

	// New builds a device from its config. It validates options and returns
	// an error naming the field; it does not open anything.
	New func(cfg Config) (Device, error)
}

// Accepts reports whether name is the driver's name or one of its aliases.
func (d Driver) Accepts(name string) bool {
	return name == d.Name || slices.Contains(d.Aliases, name)
}

// Build checks that cfg gives the device what its family needs — a clock,
// a transport of one of the driver's port kinds, and the opener of that
// kind — and then builds it with New. The edge and hwtest build devices
// only through Build.
func (d Driver) Build(cfg Config) (Device, error) {
	if cfg.Clock == nil {
		return nil, errors.New("device: no clock given")
	}
	kind, err := PortOf(cfg.Transport.Type)
	if err != nil {
		return nil, &ConfigError{File: cfg.Options.File, Field: "transport", Msg: err.Error()}
	}
	if !slices.Contains(d.Ports, kind) {
		return nil, &ConfigError{File: cfg.Options.File, Field: "transport",
			Msg: fmt.Sprintf("driver %s is wired through %s, not transport type %q", d.Name, portList(d.Ports), cfg.Transport.Type)}
	}
	var have bool
	switch kind {
	case Stream:
		have = cfg.Stream != nil
	case HID:
		have = cfg.HID != nil
	case Pin:
		have = cfg.Pin != nil
	case Folder:
		have = true
	}
	if !have {
		return nil, fmt.Errorf("device: no %s opener given for transport type %q", kind, cfg.Transport.Type)
	}
	return d.New(cfg)
}

// PortKind is how a device is wired to the box.
type PortKind string

const (
	Stream PortKind = "stream" // a byte stream: serial port, pseudo-terminal, TCP, standard input
	HID    PortKind = "hid"    // a USB HID device
	Pin    PortKind = "pin"    // a GPIO line
	Folder PortKind = "folder" // a folder the device writes files into (read by path, no opener)
)

// PortOf names the port kind of a box config's transport type.
func PortOf(transportType string) (PortKind, error) {
	switch transportType {
	case "serial", "tcp":
		return Stream, nil
	case "usb":
		return HID, nil
	case "gpio":
		return Pin, nil
	case "folder":
		return Folder, nil
	}
	return "", fmt.Errorf("unknown transport type %q (serial, tcp, usb, gpio or folder)", transportType)
}

func portList(ks []PortKind) string {
	if len(ks) == 0 {
		return "no port kind (its Driver declares no Ports)"
	}
	var s string
	for i, k := range ks {
		if i > 0 {
			s += " or "
		}
		s += string(k)
	}
	return s
}

// A family's payload schema is the file <kind>.schema.json in its folder;
// package drivers embeds them all so the hub can validate any kind without
// linking driver code.

// Config is one device entry of a box config, with the one way in to its
// hardware.
type Config struct {
	ID        string
	Transport transport.Config
	Options   Options
	// Clock is the box clock. Drivers take every time from it so tests and
	// replays control time. Build refuses a Config without one.
	Clock func() time.Time

	// The opener of the port kind the transport names; only that one is set.

	// Stream opens the device's byte stream: the serial port or TCP
	// connection of the transport on a box, a pseudo-terminal in replays,
	// standard input in `hwtest decode`.
	Stream StreamOpener
	// HID opens a USB HID device (libusb on a box, usbhid.Replay in tests).
	HID usbhid.Opener
	// Pin opens a GPIO line by name (periph.io on a box, fake pins in tests).
	Pin PinOpener

	// Actuation attaches a device that acts (a CCTV alarm output) and its
	// local rules to the box's trigger engine for as long as it runs. The
	// edge sets it for every device; nil where nothing can fire (replays):
	// such a device still runs, its rules unused.
	Actuation actuator.Attacher

	// StateDir is a folder on the box's persistent disk that is this
	// device's own, for state a driver must keep across restarts (created
	// by the driver when it first writes). Empty: nothing is kept.
	StateDir string
}

// StreamOpener opens a byte stream. It honours ctx while connecting.
type StreamOpener func(ctx context.Context) (transport.Port, error)

// StreamOf is the opener of a serial or tcp transport (transport.Open).
func StreamOf(c transport.Config) StreamOpener {
	return func(ctx context.Context) (transport.Port, error) { return transport.Open(ctx, c) }
}

// PinOpener opens a GPIO line by the name periph.io knows it under.
type PinOpener func(name string) (gpio.PinIO, error)

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
	// byte arrived. Emit returns nil once the reading is durably taken, and
	// a *Lost error when the box could not keep it.
	//
	// When the reading was not kept, the box has already counted it as lost
	// under its reason and logged it (without its content); the driver adds
	// no count of its own, and:
	//   - does not go on as if it were delivered: state about what the hub
	//     has been told (a fever onset, a contact's last reported level, a
	//     file marked handled) stays as it was, so the next reading says it
	//     again;
	//   - keeps reading: every further reading the box cannot keep is
	//     counted too, whereas a device that stopped would lose its frames
	//     uncounted.
	Emit(r reading.Reading) error
	// Up says the device is open and answering.
	Up()
	// Down says the device is open but not usable (e.g. a poll timed out),
	// with a reason from the Reason constants.
	Down(reason Reason, detail string)
	// Count records discarded input (noise bytes, bad CRC, torn frames) by
	// a short stable name. It never carries the discarded bytes themselves.
	Count(what string, n int)
}

// Lost is the error Emit returns for a reading the box did not keep.
type Lost struct {
	// Reason is the loss reason the box counted it under (edge/outbox:
	// invalid, full, refused, disk_full, write_error).
	Reason string
	Err    error
}

func (l *Lost) Error() string { return "reading lost (" + l.Reason + "): " + l.Err.Error() }
func (l *Lost) Unwrap() error { return l.Err }

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
