// Package scanneralarm reads the operator decisions and alarms an X-ray (or
// other) scanner console prints as text lines over serial or TCP. Vendors
// keep these formats private, so the line format is a grammar from the box
// config (internal/grammar), usually a named profile.
package scanneralarm

import (
	"context"
	"strings"
	"time"

	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/framing"
	"github.com/kordon/kordon/internal/grammar"
	"github.com/kordon/kordon/internal/reading"
)

// Driver registers the family (drivers/all).
func Driver() device.Driver {
	return device.Driver{
		Name:  "scanner-lines",
		Kind:  "scanner_event",
		Doc:   "X-ray/scanner console: operator decisions and alarms as text lines (serial or tcp), configurable grammar",
		Ports: []device.PortKind{device.Stream},
		New:   New,
	}
}

// Options are the driver's settings in a box config.
type Options struct {
	Grammar grammar.Spec `yaml:"grammar"`
	// Silence, when set, reports the console down after this long without
	// a line (consoles that print a periodic STATUS line).
	Silence time.Duration `yaml:"silence"`
	// Raw attaches the received line to each reading as evidence (default true).
	Raw *bool `yaml:"raw"`
}

// Event is the payload: one decision, alarm or status line.
type Event struct {
	Record     string            `json:"record"` // the grammar record that matched
	Alarm      bool              `json:"alarm"`
	Decision   string            `json:"decision,omitempty"`
	Category   string            `json:"category,omitempty"`
	Lane       string            `json:"lane,omitempty"`
	Item       string            `json:"item,omitempty"`
	Operator   string            `json:"operator,omitempty"`
	Status     string            `json:"status,omitempty"`
	DeviceTime *time.Time        `json:"device_time,omitempty"`
	Fields     map[string]string `json:"fields,omitempty"` // other named fields of the record
}

func (Event) Kind() string { return "scanner_event" }

// known are the fields Event carries by name; the rest go to Fields.
func known(field string) bool {
	switch field {
	case "time", "decision", "category", "lane", "item", "operator", "status":
		return true
	}
	return false
}

type scanner struct {
	cfg  device.Config
	opts Options
	g    *grammar.Grammar
}

// New validates the options.
func New(cfg device.Config) (device.Device, error) {
	o := Options{Grammar: grammar.Spec{Profile: "xray-console"}}
	if err := cfg.Options.Decode(&o); err != nil {
		return nil, err
	}
	g, err := grammar.Compile(o.Grammar)
	if err != nil {
		return nil, cfg.Options.Errorf("grammar", "%v", err)
	}
	if o.Silence < 0 {
		return nil, cfg.Options.Errorf("silence", "must not be negative")
	}
	return &scanner{cfg: cfg, opts: o, g: g}, nil
}

// Run reads lines until ctx ends or the port fails.
func (s *scanner) Run(ctx context.Context, out device.Output) error {
	return grammar.RunLines(ctx, s.cfg, out, grammar.LineOptions{Silence: s.opts.Silence}, func(f framing.Frame) {
		m, err := s.g.Parse(string(f.Data))
		if err != nil {
			out.Count("lines_unmatched", 1)
			return
		}
		// Not kept: the box counted it; nothing here depends on it.
		_ = out.Emit(s.reading(f, m))
	})
}

func (s *scanner) reading(f framing.Frame, m grammar.Match) reading.Reading {
	ev := Event{Record: m.Record, Alarm: m.Alarm}
	for k, v := range m.Fields {
		// Bounded to the schema's lengths: the hub refuses a reading that
		// fails its schema.
		v = grammar.Clip(strings.TrimSpace(v), grammar.MaxText)
		switch k {
		case "decision":
			ev.Decision = grammar.Clip(strings.ToUpper(v), 64)
		case "category":
			ev.Category = v
		case "lane":
			ev.Lane = v
		case "item":
			ev.Item = v
		case "operator":
			ev.Operator = v
		case "status":
			ev.Status = v
		}
		if !known(k) && v != "" {
			if ev.Fields == nil {
				ev.Fields = map[string]string{}
			}
			ev.Fields[k] = v
		}
	}
	q := reading.Quality{Status: reading.OK}
	if !m.Time.IsZero() {
		t := m.Time
		ev.DeviceTime = &t
	}
	if m.TimeErr != nil {
		q = reading.Quality{Status: reading.Suspect, Reason: grammar.Clip("device timestamp unreadable: "+m.TimeErr.Error(), grammar.MaxReason)}
	}
	rd := reading.Reading{Origin: f.At, Payload: ev, Quality: q}
	if s.opts.Raw == nil || *s.opts.Raw {
		rd.Raw = f.Data
	}
	return rd
}
