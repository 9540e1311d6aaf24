// Package weighbridge reads vehicle weighbridges through their weighing
// indicator's continuous serial output: one ASCII line per display update,
// "ST,GS,+0012345kg" — stable (ST), unstable (US) or overloaded (OL); gross
// (GS), net (NT) or tare (TR); a signed value; kg, t or lb.
//
// An indicator sends several lines a second while a lorry drives on and
// settles. The driver reports a weighing, not a line: a reading each time a
// stable weight differs from the last one reported, and one when the
// indicator goes into overload. Unstable and repeated lines are counted.
package weighbridge

import (
	"context"
	"fmt"
	"time"

	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/framing"
	"github.com/kordon/kordon/internal/grammar"
	"github.com/kordon/kordon/internal/reading"
)

// Kind is the payload kind (drivers/weighbridge/family.yaml).
const Kind = "weight"

// Driver registers the family (drivers/all).
func Driver() device.Driver {
	return device.Driver{
		Name:  "weighbridge",
		Kind:  Kind,
		Doc:   "weighbridge indicator: continuous ST/US/OL,GS/NT/TR,±value kg|t|lb lines (serial)",
		Ports: []device.PortKind{device.Stream},
		New:   New,
	}
}

// Options are the driver's settings in a box config.
type Options struct {
	// MaxGrossKg is the site's gross limit: a stable gross weight above it
	// is marked overweight (default 44000, the EU maximum for a
	// five-axle combination carrying a container).
	MaxGrossKg float64 `yaml:"max_gross_kg"`
	// Silence reports the indicator down after this long without a line
	// (default 5s: continuous output sends several lines a second; 0 for
	// an indicator that only sends on a print key).
	Silence time.Duration `yaml:"silence"`
}

// Weight is the weight payload: one settled weighing.
type Weight struct {
	State string   `json:"state"`           // stable or overload
	Mode  string   `json:"mode"`            // gross, net or tare
	Value *float64 `json:"value,omitempty"` // as displayed, in Unit; none when overloaded without a number
	Unit  string   `json:"unit"`            // kg, t or lb
	Kg    *float64 `json:"kg,omitempty"`    // Value in kilograms
	// LimitKg is the site's gross limit (max_gross_kg) the reading was
	// judged against; Overweight says a stable gross weight exceeded it.
	LimitKg    float64 `json:"limit_kg"`
	Overweight bool    `json:"overweight"`
}

// Kind implements reading.Payload.
func (Weight) Kind() string { return Kind }

type bridge struct {
	cfg  device.Config
	opts Options
}

// New validates the options.
func New(cfg device.Config) (device.Device, error) {
	o := Options{MaxGrossKg: 44000, Silence: 5 * time.Second}
	if err := cfg.Options.Decode(&o); err != nil {
		return nil, err
	}
	bad := func(f, m string) error { return cfg.Options.Errorf(f, "%s", m) }
	switch {
	case !(o.MaxGrossKg > 0 && o.MaxGrossKg <= 1e6):
		return nil, bad("max_gross_kg", "must be above 0 and at most 1000000 (44000 is the EU maximum)")
	case o.Silence < 0:
		return nil, bad("silence", "must not be negative")
	}
	return &bridge{cfg: cfg, opts: o}, nil
}

// Run reads lines until ctx ends or the port fails.
func (b *bridge) Run(ctx context.Context, out device.Output) error {
	s := &settler{limit: b.opts.MaxGrossKg}
	return grammar.RunLines(ctx, b.cfg, out, grammar.LineOptions{MaxLen: maxLine, Silence: b.opts.Silence}, func(f framing.Frame) {
		s.feed(string(f.Data), f.At, out)
	})
}

// feed reports the line's weighing, if it is a new one.
func (s *settler) feed(text string, at time.Time, out device.Output) {
	r, ok := s.take(text, at, out)
	if !ok {
		return
	}
	if err := out.Emit(r); err != nil {
		// Not kept (the box counted it): forget it, so the same weighing
		// is reported again on the indicator's next line.
		s.last = nil
	}
}

// settler turns the stream of lines into weighings.
type settler struct {
	limit float64
	last  *Line // the last line reported
}

// take reads one line and says whether it is a new weighing.
func (s *settler) take(text string, at time.Time, out device.Output) (reading.Reading, bool) {
	l, err := ParseLine(text)
	if err != nil {
		out.Count("lines_bad", 1)
		return reading.Reading{}, false
	}
	switch {
	case l.State == "unstable":
		out.Count("lines_unstable", 1)
		return reading.Reading{}, false
	case s.last != nil && same(*s.last, l):
		out.Count("lines_repeated", 1)
		return reading.Reading{}, false
	}
	s.last = &l
	w := Weight{State: l.State, Mode: l.Mode, Value: l.Value, Unit: l.Unit, LimitKg: s.limit}
	q := reading.Quality{Status: reading.OK}
	if l.Value != nil {
		kg := Kg(*l.Value, l.Unit)
		w.Kg = &kg
		w.Overweight = l.State == "stable" && l.Mode == "gross" && kg > s.limit
	}
	if l.State == "overload" {
		q = reading.Quality{Status: reading.Suspect, Reason: "indicator overloaded: the weight is above its range"}
	}
	return reading.Reading{Origin: at, Payload: w, Quality: q}, true
}

// same says two lines show one weighing: a lorry standing still, or an
// overload that goes on.
func same(a, b Line) bool {
	if a.State != b.State || a.Mode != b.Mode || a.Unit != b.Unit {
		return false
	}
	if a.State == "overload" {
		return true
	}
	return a.Value != nil && b.Value != nil && *a.Value == *b.Value
}

// String names a line in test failures.
func (l Line) String() string {
	v := "none"
	if l.Value != nil {
		v = fmt.Sprint(*l.Value)
	}
	return l.State + " " + l.Mode + " " + v + " " + l.Unit
}
