// Package contact reads a switch on a GPIO input of the box — a booth door,
// an officer's foot pedal, an enclosure tamper switch — with debouncing,
// and reports every settled change as a reading (kind "contact"). The hub's
// default rules raise an alert when a tamper switch trips.
package contact

import (
	"context"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/gpioline"
	"github.com/kordon/kordon/internal/reading"
)

// Driver registers the family (drivers/all).
func Driver() device.Driver {
	return device.Driver{
		Name:  "contact",
		Kind:  "contact",
		Doc:   "GPIO input switch (door, foot pedal, tamper) with debouncing",
		Ports: []device.PortKind{device.Pin},
		New:   New,
	}
}

// Options are the driver's settings in a box config (README.md).
type Options struct {
	Line string `yaml:"line"` // GPIO line name (periph.io), e.g. GPIO27
	Role string `yaml:"role"` // door | pedal | tamper | switch (default)
	// Active is the level that means asserted (door open, pedal pressed,
	// tamper tripped): low (default, a switch to ground) or high.
	Active string `yaml:"active"`
	// Pull is the line's bias: up, down, none or keep. Default: against the
	// active level (up when active low), so an open switch reads inactive.
	Pull string `yaml:"pull"`
	// Debounce is how long the line must stay quiet before its level
	// counts. Default 20ms.
	Debounce time.Duration `yaml:"debounce"`
}

// Payload is one settled state of the switch.
type Payload struct {
	Line   string `json:"line"`
	Role   string `json:"role"`
	Active bool   `json:"active"` // asserted: door open, pedal pressed, tamper tripped
	State  string `json:"state"`  // the role's word for it: open/closed, pressed/released, tripped/normal, on/off
	Level  int    `json:"level"`  // the GPIO level read, 0 or 1
	// Initial marks the state found when the line was opened (after a
	// start or reconnect): not a change anybody made.
	Initial bool `json:"initial,omitempty"`
	Bounces int  `json:"bounces,omitempty"` // extra edges seen while the change settled
}

func (Payload) Kind() string { return "contact" }

// states names a role's two states, [inactive, active].
func states(role string) ([2]string, bool) {
	switch role {
	case "door":
		return [2]string{"closed", "open"}, true
	case "pedal":
		return [2]string{"released", "pressed"}, true
	case "tamper":
		return [2]string{"normal", "tripped"}, true
	case "switch":
		return [2]string{"off", "on"}, true
	}
	return [2]string{}, false
}

// maxBounces bounds one settle: a line chattering without end is reported
// as it stands (suspect) instead of never.
const maxBounces = 256

// pollEvery bounds how long the edge watcher waits before checking whether
// the device is stopping (periph's WaitForEdge has no context).
const pollEvery = 250 * time.Millisecond

type contact struct {
	opts   Options
	active gpio.Level
	pull   gpio.Pull
	cfg    device.Config
	// after starts the debounce timer; tests replace it to step time.
	after func(time.Duration) <-chan time.Time
}

// New validates the options of one input.
func New(cfg device.Config) (device.Device, error) {
	o := Options{Role: "switch", Active: "low", Debounce: 20 * time.Millisecond}
	if err := cfg.Options.Decode(&o); err != nil {
		return nil, err
	}
	bad := func(field, f string, a ...any) error {
		return cfg.Options.Errorf(field, f, a...)
	}
	if o.Line == "" {
		return nil, bad("line", "missing: the GPIO line name, e.g. GPIO27")
	}
	if _, ok := states(o.Role); !ok {
		return nil, bad("role", "must be door, pedal, tamper or switch (got %q)", o.Role)
	}
	active, err := gpioline.ParseLevel(o.Active)
	if err != nil {
		return nil, bad("active", "%v", err)
	}
	if o.Pull == "" {
		o.Pull = map[gpio.Level]string{gpio.Low: "up", gpio.High: "down"}[active]
	}
	pull, err := gpioline.ParsePull(o.Pull)
	if err != nil {
		return nil, bad("pull", "%v", err)
	}
	if o.Debounce < time.Millisecond || o.Debounce > time.Second {
		return nil, bad("debounce", "must be between 1ms and 1s (got %v)", o.Debounce)
	}
	return &contact{opts: o, active: active, pull: pull, cfg: cfg, after: time.After}, nil
}

// Run reads the line until ctx ends.
func (c *contact) Run(ctx context.Context, out device.Output) error {
	pin, err := c.cfg.Pin(c.opts.Line)
	if err != nil {
		return &device.Fault{Reason: device.Unplugged, Err: err}
	}
	if err := pin.In(c.pull, gpio.BothEdges); err != nil {
		return &device.Fault{Reason: device.Unplugged, Err: fmt.Errorf("gpio %s: %w", c.opts.Line, err)}
	}
	now := c.cfg.Clock
	last := pin.Read()
	out.Up()
	// The initial level is said whether or not it was kept: a lost one
	// is counted by the box, and the next change is compared with what
	// the line really was.
	_ = out.Emit(c.reading(now(), last, 0, true))

	// The watcher turns periph's blocking WaitForEdge into a channel the
	// debounce loop can select on together with its timer and ctx.
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		pin.Halt()
	}()
	edges := make(chan time.Time)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if !pin.WaitForEdge(pollEvery) {
				continue
			}
			select {
			case edges <- now():
			case <-ctx.Done():
			}
		}
	}()

	for {
		var first time.Time
		select {
		case <-ctx.Done():
			return nil
		case first = <-edges:
		}
		// Settle: every further edge restarts the quiet period.
		bounces := 0
		timer := c.after(c.opts.Debounce)
	settle:
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-edges:
				bounces++
				if bounces >= maxBounces {
					break settle
				}
				timer = c.after(c.opts.Debounce)
			case <-timer:
				break settle
			}
		}
		if bounces > 0 {
			out.Count("bounces", bounces)
		}
		lvl := pin.Read()
		if lvl == last {
			out.Count("glitches", 1) // it bounced back to where it was
			continue
		}
		r := c.reading(first, lvl, bounces, false)
		if bounces >= maxBounces {
			out.Count("chatter", 1)
			r.Quality = reading.Quality{Status: reading.Suspect, Reason: "line still chattering; level read without settling"}
		}
		// Only a kept change becomes the last level told: after a lost
		// one the next settled level is reported even if it is the same.
		if out.Emit(r) == nil {
			last = lvl
		}
	}
}

func (c *contact) reading(at time.Time, lvl gpio.Level, bounces int, initial bool) reading.Reading {
	active := lvl == c.active
	p := Payload{Line: c.opts.Line, Role: c.opts.Role, Active: active, Initial: initial, Bounces: bounces}
	st, _ := states(c.opts.Role)
	if active {
		p.State = st[1]
	} else {
		p.State = st[0]
	}
	if lvl == gpio.High {
		p.Level = 1
	}
	return reading.Reading{Origin: at, Payload: p, Quality: reading.Quality{Status: reading.OK}}
}
