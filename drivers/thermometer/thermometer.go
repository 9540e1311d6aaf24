// Package thermometer drives fever-screening thermometers. This package is
// the Modbus RTU family (IR pyrometers and RS-485 sensors on one bus, their
// register maps as data in package regmap); package temper is the USB HID
// family. Both publish the
// "temperature" payload and judge samples with package screening.
package thermometer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/drivers/thermometer/regmap"
	"github.com/kordon/kordon/drivers/thermometer/screening"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/modbus"
	"github.com/kordon/kordon/internal/reading"
)

// Driver registers the Modbus RTU family (drivers/all).
func Driver() device.Driver {
	return device.Driver{
		Name:  "modbus-thermometer",
		Kind:  screening.Kind,
		Doc:   "IR pyrometers and RS-485 temperature sensors polled over Modbus RTU (Calex PyroUSB, Omega OS-MINI, XY-MD02, custom maps)",
		Ports: []device.PortKind{device.Stream},
		New:   New,
	}
}

// Options are the driver's settings in a box config.
type Options struct {
	// Poll is how often each slave is read (default 1s).
	Poll time.Duration `yaml:"poll"`
	// Timeout is how long to wait for a reply to begin, after ReplyDelay
	// (default 300ms); ReplyDelay is the slave's turnaround (default 20ms).
	Timeout    time.Duration `yaml:"timeout"`
	ReplyDelay time.Duration `yaml:"reply_delay"`
	// Retries after a timeout, bad frame or busy reply (default 2).
	Retries *int `yaml:"retries"`
	// FrameGap is the longest silence inside a reply (default 50ms).
	FrameGap time.Duration `yaml:"frame_gap"`
	// Raw attaches the reply frames to each reading (default off: at
	// 1–10 Hz the evidence is rarely worth its bytes).
	Raw bool `yaml:"raw"`
	// Slaves are the thermometers on this bus, asked in turn.
	Slaves yaml.Node `yaml:"slaves"`
	// Profiles adds register maps to the built-in ones, by name.
	Profiles yaml.Node `yaml:"profiles"`
	// Screening is the site's fever threshold and fault checks.
	Screening yaml.Node `yaml:"screening"`
}

type slaveYAML struct {
	Address   int       `yaml:"address"`
	Name      string    `yaml:"name"`
	Profile   string    `yaml:"profile"`
	Screening yaml.Node `yaml:"screening"` // overrides the device's, key by key
}

type slave struct {
	addr    byte
	name    string
	profile regmap.Profile
	reqs    []modbus.Request
	screen  screening.ScreenConfig
}

type bus struct {
	cfg     device.Config
	opts    Options
	retries int
	slaves  []slave
}

// New validates the options of one bus.
func New(cfg device.Config) (device.Device, error) {
	o := cfg.Options
	opts := Options{Poll: time.Second, Timeout: 300 * time.Millisecond, ReplyDelay: 20 * time.Millisecond, FrameGap: 50 * time.Millisecond}
	if err := o.Decode(&opts); err != nil {
		return nil, err
	}
	key := func(k string) *yaml.Node { return device.Child(o.Node, k) }
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"poll", opts.Poll}, {"timeout", opts.Timeout}, {"frame_gap", opts.FrameGap}} {
		if d.v <= 0 {
			return nil, o.ErrorAt(key(d.name), d.name, "must be positive")
		}
	}
	if opts.ReplyDelay < 0 {
		return nil, o.ErrorAt(key("reply_delay"), "reply_delay", "must not be negative")
	}
	b := &bus{cfg: cfg, opts: opts, retries: 2}
	if opts.Retries != nil {
		if *opts.Retries < 0 || *opts.Retries > 10 {
			return nil, o.ErrorAt(key("retries"), "retries", "want 0 to 10")
		}
		b.retries = *opts.Retries
	}
	custom, err := regmap.Decode(o, key("profiles"))
	if err != nil {
		return nil, err
	}
	sn := key("slaves")
	if sn == nil || sn.Kind != yaml.SequenceNode || len(sn.Content) == 0 {
		return nil, o.ErrorAt(sn, "slaves", "want a list of {address, name, profile}: the thermometers on this bus")
	}
	seenAddr, seenName := map[int]bool{}, map[string]bool{}
	for i, n := range sn.Content {
		at := fmt.Sprintf("slaves[%d]", i)
		var y slaveYAML
		if err := o.DecodeAt(n, at, &y); err != nil {
			return nil, err
		}
		if y.Address < 1 || y.Address > 247 {
			return nil, o.ErrorAt(device.Child(n, "address"), at+".address", "%d: want 1 to 247 (0 is broadcast and never answers)", y.Address)
		}
		if seenAddr[y.Address] {
			return nil, o.ErrorAt(device.Child(n, "address"), at+".address", "address %d is already on this bus", y.Address)
		}
		seenAddr[y.Address] = true
		if y.Name == "" {
			y.Name = fmt.Sprintf("slave-%d", y.Address)
		}
		if seenName[y.Name] {
			return nil, o.ErrorAt(device.Child(n, "name"), at+".name", "name %q is already used on this bus", y.Name)
		}
		seenName[y.Name] = true
		p, ok := custom[y.Profile]
		if !ok {
			p, ok = regmap.Builtin()[y.Profile]
		}
		if !ok {
			return nil, o.ErrorAt(device.Child(n, "profile"), at+".profile", "unknown profile %q (built in: %s; or define it under profiles:)", y.Profile, regmap.Names(custom))
		}
		sc, err := screening.DecodeLayers(o, opts.Poll, screening.Layer{Node: key("screening"), At: "screening"}, screening.Layer{Node: &y.Screening, At: at + ".screening"})
		if err != nil {
			return nil, err
		}
		if sc.Compensates() && !p.HasHousing() {
			return nil, o.ErrorAt(n, at+".screening.ambient_coeff", "profile %q reports no housing temperature to compensate with", p.Name())
		}
		reqs, err := p.Requests(byte(y.Address))
		if err != nil {
			return nil, o.ErrorAt(n, at, "%v", err)
		}
		b.slaves = append(b.slaves, slave{addr: byte(y.Address), name: y.Name, profile: p, reqs: reqs, screen: sc})
	}
	return b, nil
}

// Run polls every slave in turn, one request on the bus at a time, until
// ctx ends or the port fails. A slave that stops answering is a fault
// reading (and the device goes down when none answers); polling goes on,
// so it comes back on its own.
func (b *bus) Run(ctx context.Context, out device.Output) error {
	port, err := b.cfg.Stream(ctx)
	if err != nil {
		return &device.Fault{Reason: device.Unplugged, Err: err}
	}
	defer port.Close()
	out.Up()
	now := b.cfg.Clock
	m := &modbus.Master{
		Port: port, Baud: b.cfg.Transport.Baud, ReplyDelay: b.opts.ReplyDelay, Timeout: b.opts.Timeout,
		Gap: b.opts.FrameGap, Retries: b.retries, Now: now, Count: out.Count,
	}
	screens := make([]*screening.Screener, len(b.slaves))
	st := screening.OpenFeverState(b.cfg.StateDir, out.Count)
	for i, s := range b.slaves {
		screens[i] = screening.NewScreener(s.screen, s.name, s.profile.Name())
		screens[i].Remember(st)
	}
	tick := time.NewTicker(b.opts.Poll)
	defer tick.Stop()
	down := false
	for {
		answered, lastErr := 0, error(nil)
		for i, s := range b.slaves {
			rd, err := b.poll(ctx, m, s, screens[i], now)
			if ctx.Err() != nil {
				return nil
			}
			var pe *modbus.PortError
			if errors.As(err, &pe) {
				return &device.Fault{Reason: device.Unplugged, Err: err}
			}
			if err == nil {
				answered++
			} else {
				lastErr = err
			}
			if rd != nil {
				screens[i].Settle(out.Emit(*rd))
			}
		}
		switch {
		case answered == 0 && !down:
			reason := device.Timeout
			if !errors.Is(lastErr, modbus.ErrTimeout) {
				reason = device.Errors
			}
			out.Down(reason, lastErr.Error())
			down = true
		case answered > 0 && down:
			out.Up()
			down = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// poll reads one slave and returns the reading worth publishing, if any,
// and the bus error, if any.
func (b *bus) poll(ctx context.Context, m *modbus.Master, s slave, sc *screening.Screener, now func() time.Time) (*reading.Reading, error) {
	regs := map[uint16]uint16{}
	var at time.Time
	var raw []byte
	for _, q := range s.reqs {
		rep, err := m.Read(ctx, q)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			fault, detail := classify(err)
			res := sc.Fail(fault, fmt.Sprintf("slave %d: %s", s.addr, detail))
			if !res.Emit {
				return nil, err
			}
			return &reading.Reading{Origin: now(), Payload: res.Payload, Quality: res.Quality}, err
		}
		if at.IsZero() {
			at = rep.At
		}
		for i, v := range rep.Registers {
			regs[q.Address+uint16(i)] = v
		}
		if b.opts.Raw {
			raw = append(raw, rep.Frame...)
		}
	}
	res := sc.Sample(s.profile.Decode(regs))
	if !res.Emit {
		return nil, nil
	}
	return &reading.Reading{Origin: at, Payload: res.Payload, Quality: res.Quality, Raw: raw}, nil
}

// classify names a failed poll for the fault field.
func classify(err error) (fault, detail string) {
	var ee *modbus.ExceptionError
	var fe *modbus.FrameError
	switch {
	case errors.Is(err, modbus.ErrTimeout):
		return "timeout", "no reply"
	case errors.As(err, &ee):
		return "exception", fmt.Sprintf("exception %02x (%s)", ee.Code, modbus.ExceptionName(ee.Code))
	case errors.As(err, &fe):
		return "frame", "unusable reply (" + fe.Kind + ")"
	}
	return "frame", err.Error()
}
