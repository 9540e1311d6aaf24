// Package tracedetector reads per-sample results of trace detectors (ion
// mobility spectrometers): clear or alarm, the substances named, and a
// confidence. There is no public byte format, so lines are parsed by a
// grammar from the box config (internal/grammar), usually a named profile.
package tracedetector

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
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
		Name:  "trace-lines",
		Kind:  "trace_sample",
		Doc:   "trace detector (IMS): per-sample clear/alarm, substances, confidence as text lines, configurable grammar",
		Ports: []device.PortKind{device.Stream},
		New:   New,
	}
}

// Options are the driver's settings in a box config.
type Options struct {
	Grammar grammar.Spec `yaml:"grammar"`
	// SubstanceSeparators are the characters between substance names in
	// the substances field (default ";,/|").
	SubstanceSeparators string `yaml:"substance_separators"`
	// Silence, when set, reports the detector down after this long without a line.
	Silence time.Duration `yaml:"silence"`
	// Raw attaches the received line to each reading as evidence (default true).
	Raw *bool `yaml:"raw"`
}

// Sample is the payload: one result or status line.
type Sample struct {
	Record     string   `json:"record"`           // the grammar record that matched
	Result     string   `json:"result,omitempty"` // as sent, upper case: CLEAR, ALARM, ...
	Alarm      bool     `json:"alarm"`
	Substances []string `json:"substances"`
	// SubstanceList is Substances joined for alert texts (CEL has no join).
	SubstanceList string            `json:"substance_list,omitempty"`
	Confidence    *float64          `json:"confidence,omitempty"` // 0..1 as sent
	SampleID      string            `json:"sample,omitempty"`
	Status        string            `json:"status,omitempty"`
	DeviceTime    *time.Time        `json:"device_time,omitempty"`
	Fields        map[string]string `json:"fields,omitempty"` // other named fields
}

func (Sample) Kind() string { return "trace_sample" }

func known(field string) bool {
	switch field {
	case "time", "result", "substances", "confidence", "sample", "status":
		return true
	}
	return false
}

type detector struct {
	cfg  device.Config
	opts Options
	g    *grammar.Grammar
}

// New validates the options.
func New(cfg device.Config) (device.Device, error) {
	o := Options{Grammar: grammar.Spec{Profile: "trace-csv"}, SubstanceSeparators: ";,/|"}
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
	if o.SubstanceSeparators == "" {
		return nil, cfg.Options.Errorf("substance_separators", "must name at least one character")
	}
	return &detector{cfg: cfg, opts: o, g: g}, nil
}

// Run reads lines until ctx ends or the port fails.
func (d *detector) Run(ctx context.Context, out device.Output) error {
	return grammar.RunLines(ctx, d.cfg, out, grammar.LineOptions{Silence: d.opts.Silence}, func(f framing.Frame) {
		m, err := d.g.Parse(string(f.Data))
		if err != nil {
			out.Count("lines_unmatched", 1)
			return
		}
		// Not kept: the box counted it; nothing here depends on it.
		_ = out.Emit(d.reading(f, m))
	})
}

// maxSubstances bounds the substances one line may name (an IMS names a
// handful; a garbled line must not make a payload the hub refuses).
const maxSubstances = 16

func (d *detector) reading(f framing.Frame, m grammar.Match) reading.Reading {
	s := Sample{Record: m.Record, Alarm: m.Alarm, Substances: []string{}}
	var doubts []string
	// Sorted, so reasons come in the same order every time.
	for _, k := range slices.Sorted(maps.Keys(m.Fields)) {
		raw := strings.TrimSpace(m.Fields[k])
		v := grammar.Clip(raw, grammar.MaxText)
		switch k {
		case "result":
			s.Result = grammar.Clip(strings.ToUpper(raw), 64)
		case "substances":
			for _, name := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(d.opts.SubstanceSeparators, r) }) {
				if name = strings.TrimSpace(name); name != "" && len(s.Substances) < maxSubstances {
					s.Substances = append(s.Substances, grammar.Clip(name, 64))
				}
			}
		case "confidence":
			if v == "" {
				break
			}
			c, err := strconv.ParseFloat(raw, 64)
			if err != nil || math.IsNaN(c) || c < 0 || c > 1 {
				doubts = append(doubts, fmt.Sprintf("confidence %q not a number from 0 to 1", grammar.Clip(raw, grammar.MaxQuoted)))
				break
			}
			s.Confidence = &c
		case "sample":
			s.SampleID = v
		case "status":
			s.Status = v
		}
		if !known(k) && v != "" {
			if s.Fields == nil {
				s.Fields = map[string]string{}
			}
			s.Fields[k] = v
		}
	}
	s.SubstanceList = grammar.Clip(strings.Join(s.Substances, ", "), 512)
	if !m.Time.IsZero() {
		t := m.Time
		s.DeviceTime = &t
	}
	if m.TimeErr != nil {
		doubts = append(doubts, "device timestamp unreadable: "+m.TimeErr.Error())
	}
	if s.Alarm && len(s.Substances) == 0 {
		doubts = append(doubts, "alarm without a substance name")
	}
	q := reading.Quality{Status: reading.OK}
	if len(doubts) > 0 {
		q = reading.Quality{Status: reading.Suspect, Reason: grammar.Clip(strings.Join(doubts, "; "), grammar.MaxReason)}
	}
	rd := reading.Reading{Origin: f.At, Payload: s, Quality: q}
	if d.opts.Raw == nil || *d.opts.Raw {
		rd.Raw = f.Data
	}
	return rd
}
