// Package temper drives PCsensor TEMPer USB HID thermometers (413d:2107
// TEMPerX, 0c45:7401 older TEMPer) through the usbhid seam: libusb on a
// box, recorded reports in tests. Readings are the thermometer family's
// "temperature" payload, screened exactly as Modbus pyrometers are.
package temper

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/drivers/thermometer/screening"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/usbhid"
)

// Driver registers the family (drivers/all).
func Driver() device.Driver {
	return device.Driver{
		Name:  "temper",
		Kind:  screening.Kind,
		Doc:   "PCsensor TEMPer USB HID thermometers (TEMPerX /100 and older /256 firmware)",
		Ports: []device.PortKind{device.HID},
		New:   New,
	}
}

// Query is the report that asks a TEMPer for its temperature.
func Query() []byte { return []byte{0x01, 0x80, 0x33, 0x01, 0x00, 0x00, 0x00, 0x00} }

// NoSensor is the raw value a TEMPer reports with no probe fitted.
const NoSensor = 0x4E20

// Errors of DecodeReport.
var (
	ErrNoSensor = errors.New("temper: no sensor (0x4e20)")
	ErrShort    = errors.New("temper: report shorter than 4 bytes")
)

// DecodeReport reads the temperature from a reply report: bytes 2–3 are a
// big-endian int16 in 1/div °C (div 100 on TEMPerX firmware, 256 on older).
func DecodeReport(b []byte, div int) (float64, error) {
	if len(b) < 4 {
		return 0, ErrShort
	}
	raw := uint16(b[2])<<8 | uint16(b[3])
	if raw == NoSensor {
		return 0, ErrNoSensor
	}
	if div != 100 && div != 256 {
		return 0, fmt.Errorf("temper: scaling %d: want 100 or 256", div)
	}
	return float64(int16(raw)) / float64(div), nil
}

// Options are the driver's settings in a box config.
type Options struct {
	// Poll is how often the thermometer is asked (default 1s); Timeout is
	// how long its answer may take (default 1s).
	Poll    time.Duration `yaml:"poll"`
	Timeout time.Duration `yaml:"timeout"`
	// Scaling is the firmware's: 100 (TEMPerX), 256 (older) or auto (by
	// product id: 413d:2107 is 100, 0c45:7401 is 256).
	Scaling string `yaml:"scaling"`
	// Name is the sensor name in readings (default "temper").
	Name string `yaml:"name"`
	// ProbeName names the second probe of a dual-probe TEMPer2 (default
	// Name + "-probe"); its readings are screened alike.
	ProbeName string `yaml:"probe_name"`
	// Probes is 0 (default: a /100 device's second report is read as a
	// second probe when it sends one), 1 (never) or 2 (also read bytes 4–5
	// of an older /256 device's report as a second probe: 0c45:7401 is both
	// the one-probe TEMPer1 and the TEMPer2, so that is never guessed).
	Probes    int       `yaml:"probes"`
	Screening yaml.Node `yaml:"screening"`
}

type temper struct {
	cfg    device.Config
	opts   Options
	id     usbhid.ID
	div    int
	screen screening.ScreenConfig
}

// New validates the options of one thermometer.
func New(cfg device.Config) (device.Device, error) {
	o := cfg.Options
	opts := Options{Poll: time.Second, Timeout: time.Second, Scaling: "auto", Name: "temper"}
	if err := o.Decode(&opts); err != nil {
		return nil, err
	}
	if opts.Poll <= 0 || opts.Timeout <= 0 {
		return nil, o.Errorf("poll", "poll and timeout must be positive")
	}
	if opts.ProbeName == "" {
		opts.ProbeName = opts.Name + "-probe"
	}
	if opts.Probes < 0 || opts.Probes > 2 {
		return nil, o.Errorf("probes", "%d: want 0 (auto), 1 or 2", opts.Probes)
	}
	if opts.ProbeName == opts.Name {
		return nil, o.Errorf("probe_name", "must differ from name %q", opts.Name)
	}
	id, err := usbhid.ParseID(cfg.Transport.Vendor, cfg.Transport.Product)
	if err != nil {
		return nil, o.Errorf("transport", "%v", err)
	}
	id.Interface = 1 // TEMPer answers on its second interface; the first is a keyboard
	t := &temper{cfg: cfg, opts: opts, id: id}
	switch opts.Scaling {
	case "100":
		t.div = 100
	case "256":
		t.div = 256
	case "auto", "":
		switch id {
		case usbhid.ID{Vendor: 0x413d, Product: 0x2107, Interface: 1}:
			t.div = 100
		case usbhid.ID{Vendor: 0x0c45, Product: 0x7401, Interface: 1}:
			t.div = 256
		default:
			return nil, o.Errorf("scaling", "cannot tell the firmware of %s: set scaling to 100 (TEMPerX) or 256 (older)", id)
		}
	default:
		return nil, o.Errorf("scaling", "%q: want 100, 256 or auto", opts.Scaling)
	}
	if t.screen, err = screening.ParseScreening(o, opts.Poll, &opts.Screening); err != nil {
		return nil, err
	}
	return t, nil
}

// Run asks for the temperature every poll until ctx ends or the device
// goes away (the edge then reopens it).
func (t *temper) Run(ctx context.Context, out device.Output) error {
	dev, err := t.cfg.HID(t.id)
	if err != nil {
		return &device.Fault{Reason: device.Unplugged, Err: err}
	}
	defer dev.Close()
	out.Up()
	now := t.cfg.Clock
	model := fmt.Sprintf("temper-%s", t.id)
	st := screening.OpenFeverState(t.cfg.StateDir, out.Count)
	sc := screening.NewScreener(t.screen, t.opts.Name, model)
	sc.Remember(st)
	var probe *screening.Screener // the second probe's, once one reports
	tick := time.NewTicker(t.opts.Poll)
	defer tick.Stop()
	buf := make([]byte, 64)
	down := false
	var second *reading.Reading
	query := Query()
	for {
		if err := dev.WriteReport(query); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return &device.Fault{Reason: device.Unplugged, Err: err}
		}
		rctx, cancel := context.WithTimeout(ctx, t.opts.Timeout)
		n, err := dev.ReadReport(rctx, buf)
		cancel()
		at := now()
		var res screening.Result
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, context.DeadlineExceeded):
			out.Count("timeouts", 1)
			res = sc.Fail("timeout", "no report")
			if !down {
				out.Down(device.Timeout, "no report")
				down = true
			}
		case err != nil:
			return &device.Fault{Reason: device.Unplugged, Err: err}
		default:
			if down {
				out.Up()
				down = false
			}
			c, derr := DecodeReport(buf[:n], t.div)
			switch {
			case errors.Is(derr, ErrNoSensor):
				res = sc.Fail("no_sensor", "no probe fitted (0x4e20)")
			case derr != nil:
				out.Count("reports_malformed", 1)
				res = sc.Fail("report", derr.Error())
			default:
				res = sc.Sample(screening.Sample{Measured: c})
			}
			if p, ok := t.secondProbe(ctx, dev, buf[:n]); ok {
				if probe == nil {
					probe = screening.NewScreener(t.screen, t.opts.ProbeName, model)
					probe.Remember(st)
				}
				if r := probe.Sample(screening.Sample{Measured: p}); r.Emit {
					second = &reading.Reading{Origin: at, Payload: r.Payload, Quality: r.Quality}
				}
			}
		}
		if res.Emit {
			rd := reading.Reading{Origin: at, Payload: res.Payload, Quality: res.Quality}
			sc.Settle(out.Emit(rd))
		}
		if second != nil {
			probe.Settle(out.Emit(*second))
			second = nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// secondReportWait is how long a TEMPerX/TEMPer2 (/100 firmware) gets to
// send the second report of its answer, which carries a second probe: the
// two come back to back, so a single-probe device costs this per poll.
const secondReportWait = 150 * time.Millisecond

// secondProbe reads a dual-probe TEMPer2's second temperature, if it has
// one: on /100 firmware (413d:2107) the answer's second 8-byte report,
// bytes 2–3 (offset 10 of the 16-byte answer, as urwen/temper reads it);
// on older /256 firmware (0c45:7401), with probes: 2, bytes 4–5 of the
// first report (temperusb's TEMPer2 offsets).
// 0x4E20 there means no probe is fitted: no reading.
func (t *temper) secondProbe(ctx context.Context, dev usbhid.Device, first []byte) (float64, bool) {
	var b []byte
	switch {
	case t.opts.Probes == 1:
		return 0, false
	case t.div == 256 && t.opts.Probes != 2:
		return 0, false
	case t.div == 256:
		if len(first) < 6 {
			return 0, false
		}
		b = []byte{0, 0, first[4], first[5]}
	default:
		rctx, cancel := context.WithTimeout(ctx, secondReportWait)
		defer cancel()
		buf := make([]byte, 64)
		n, err := dev.ReadReport(rctx, buf)
		if err != nil || n < 4 {
			return 0, false
		}
		b = buf[:n]
	}
	c, err := DecodeReport(b, t.div)
	if err != nil {
		return 0, false
	}
	return c, true
}
