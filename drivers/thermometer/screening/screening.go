// Package screening judges thermometer samples the same way for every
// thermometer family: the fever threshold with hysteresis and
// confirmation, sensor faults, which readings are worth publishing, and the
// fever state kept across restarts. Its output is the "temperature" payload.
package screening

import (
	"fmt"
	"math"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/reading"
)

// Screening is a site's `screening:` settings: the fever threshold and how
// readings are judged and thinned out. Every driver of the family shares it.
type Screening struct {
	// Fever turns fever screening on (default). Off for ambient sensors.
	Fever *bool `yaml:"fever"`
	// Threshold is the fever threshold in °C (default 37.5), reached at or
	// above it; Hysteresis is how far below it the temperature must fall
	// before the fever clears (default 0.3), so a reading hovering around
	// the threshold does not flap.
	Threshold  *float64 `yaml:"threshold"`
	Hysteresis *float64 `yaml:"hysteresis"`
	// Confirm is how many polls in a row must reach the threshold before
	// a fever is declared (default 2): one noisy sample is not a fever.
	Confirm int `yaml:"confirm"`
	// Offset (°C) is added to every measured temperature: skin-to-core
	// correction and calibration.
	Offset float64 `yaml:"offset"`
	// AmbientCoeff (°C per °C) corrects for a cold or hot booth when the
	// device reports its housing temperature: AmbientCoeff × (AmbientRef −
	// housing) is added. AmbientRef defaults to 25 °C.
	AmbientCoeff float64  `yaml:"ambient_coeff"`
	AmbientRef   *float64 `yaml:"ambient_ref"`
	// Deadband (°C, default 0.2) is the change that publishes a reading at
	// once; smaller changes wait for the Heartbeat (default 60s).
	Deadband  *float64      `yaml:"deadband"`
	Heartbeat time.Duration `yaml:"heartbeat"`
	// A measured value unchanged (within StuckTolerance °C) for StuckWindow
	// (default 60s; 0s turns the check off) is a stuck sensor.
	StuckWindow    *time.Duration `yaml:"stuck_window"`
	StuckTolerance float64        `yaml:"stuck_tolerance"`
	// Min and Max (°C, default −50 and 100) bound a plausible measurement;
	// outside them the sensor is broken or misaimed.
	Min *float64 `yaml:"min"`
	Max *float64 `yaml:"max"`
}

// ScreenConfig is Screening resolved, with windows counted in polls: the
// screener counts samples, so its decisions are the same however late a
// poll ran (and the same in a replay as on the bus).
type ScreenConfig struct {
	fever                 bool
	threshold, hysteresis float64
	confirm               int
	offset                float64
	ambientCoeff          float64
	ambientRef            float64
	deadband              float64
	heartbeatPolls        int
	stuckPolls            int // 0: off
	stuckTol              float64
	min, max              float64
}

// Layer is a config mapping and where it sits.
type Layer struct {
	Node *yaml.Node
	At   string // where it sits in the options, for errors
}

// decodeScreening reads and checks `screening:` mappings (absent ones are
// skipped); a later mapping overrides an earlier one key by key, so a
// slave can change one setting of its bus.
func DecodeLayers(o device.Options, poll time.Duration, layers ...Layer) (ScreenConfig, error) {
	var s Screening
	for _, l := range layers {
		if err := o.DecodeAt(l.Node, l.At, &s); err != nil {
			return ScreenConfig{}, err
		}
	}
	c := ScreenConfig{
		fever: true, threshold: 37.5, hysteresis: 0.3, confirm: 2,
		offset: s.Offset, ambientCoeff: s.AmbientCoeff, ambientRef: 25, deadband: 0.2,
		stuckTol: s.StuckTolerance, min: -50, max: 100,
	}
	// A value error points at the last layer that set the key.
	bad := func(key, format string, args ...any) error {
		for i := len(layers) - 1; i >= 0; i-- {
			if k := device.Child(layers[i].Node, key); k != nil {
				return o.ErrorAt(k, layers[i].At+"."+key, format, args...)
			}
		}
		return o.ErrorAt(nil, "screening."+key, format, args...)
	}
	if s.Fever != nil {
		c.fever = *s.Fever
	}
	if s.Threshold != nil {
		c.threshold = *s.Threshold
		if c.threshold < 30 || c.threshold > 45 {
			return c, bad("threshold", "%.1f °C is not a body temperature (30 to 45)", c.threshold)
		}
	}
	if s.Hysteresis != nil {
		c.hysteresis = *s.Hysteresis
		if c.hysteresis < 0 || c.hysteresis > 3 {
			return c, bad("hysteresis", "%.2f °C: want 0 to 3", c.hysteresis)
		}
	}
	if s.Confirm < 0 {
		return c, bad("confirm", "must be 1 or more polls")
	} else if s.Confirm > 0 {
		c.confirm = s.Confirm
	}
	if s.AmbientRef != nil {
		c.ambientRef = *s.AmbientRef
	}
	if s.Deadband != nil {
		c.deadband = *s.Deadband
		if c.deadband < 0 {
			return c, bad("deadband", "must not be negative")
		}
	}
	hb := 60 * time.Second
	if s.Heartbeat < 0 {
		return c, bad("heartbeat", "must be positive")
	} else if s.Heartbeat > 0 {
		hb = s.Heartbeat
	}
	c.heartbeatPolls = polls(hb, poll)
	sw := 60 * time.Second
	if s.StuckWindow != nil {
		sw = *s.StuckWindow
		if sw < 0 {
			return c, bad("stuck_window", "must not be negative (0s turns the check off)")
		}
		if sw > 0 && sw < 2*poll {
			return c, bad("stuck_window", "%v is shorter than two polls (%v)", sw, 2*poll)
		}
	}
	if sw > 0 {
		// The window spans from the first of the unchanged samples to the last.
		c.stuckPolls = polls(sw, poll) + 1
	}
	if c.stuckTol < 0 {
		return c, bad("stuck_tolerance", "must not be negative")
	}
	if s.Min != nil {
		c.min = *s.Min
	}
	if s.Max != nil {
		c.max = *s.Max
	}
	if c.min >= c.max {
		return c, bad("max", "max %.1f must be above min %.1f", c.max, c.min)
	}
	return c, nil
}

// polls is how many polls of length poll cover d (at least 1).
func polls(d, poll time.Duration) int {
	return max(1, int((d+poll-1)/poll))
}

// Sample is one successful measurement, before judgement.
type Sample struct {
	Measured   float64 // object temperature as reported, °C
	Housing    *float64
	Humidity   *float64
	Emissivity *float64
	Status     []string // status bits set
	BadStatus  bool     // a set status bit makes the measurement unusable
}

// Result is what the screener made of a sample or a failure.
type Result struct {
	Payload Temperature
	Quality reading.Quality
	Emit    bool
}

// Screener judges one sensor's samples: fever with hysteresis, faults
// (stuck, out of range, status bits, no reply), and which readings are
// worth publishing. It is not safe for concurrent use; one poll loop owns it.
type Screener struct {
	cfg    ScreenConfig
	sensor string
	model  string

	started    bool
	fever      bool
	above      int // consecutive samples at or above the threshold
	fault      string
	stuckRef   float64
	stuckCount int
	lastC      *float64 // Celsius of the last published good reading
	since      int      // polls since the last published reading
	state      *FeverState
	// undo is what was told before the last judgement, put back by Settle
	// when its reading was not kept.
	undo told
}

// told is the part of a Screener's state that depends on what it published.
type told struct {
	started, fever bool
	above, since   int
	fault          string
	lastC          *float64
}

func (s *Screener) told() told {
	return told{started: s.started, fever: s.fever, above: s.above, since: s.since, fault: s.fault, lastC: s.lastC}
}

// Settle says what became of the reading of the last judgement that asked
// for one (Result.Emit): kept (err nil), its fever state is written down;
// not kept, the screener forgets having published it, so the next sample
// announces again what it announced (an onset, a clearance, a fault).
func (s *Screener) Settle(err error) {
	if err != nil {
		u := s.undo
		s.started, s.fever, s.above, s.since, s.fault, s.lastC = u.started, u.fever, u.above, u.since, u.fault, u.lastC
		return
	}
	s.state.Set(s.sensor, s.fever)
}

// Threshold is the fever threshold in °C.
func (c ScreenConfig) Threshold() float64 { return c.threshold }

// Compensates says whether the screening corrects for the housing
// (ambient) temperature, which the sensor must then report.
func (c ScreenConfig) Compensates() bool { return c.ambientCoeff != 0 }

// Remember keeps the fever state in st (nil: nothing kept) and starts from
// what it holds: a sensor in fever before an edged restart is still in
// fever, so no second onset is announced, and its end is.
func (s *Screener) Remember(st *FeverState) {
	s.state = st
	if s.cfg.fever && st.Fever(s.sensor) {
		s.fever = true
	}
}

// ParseScreening reads a device's `screening:` mapping (n may be nil) for a
// sensor polled every poll; other thermometer families use it so every
// family screens alike.
func ParseScreening(o device.Options, poll time.Duration, n *yaml.Node) (ScreenConfig, error) {
	return DecodeLayers(o, poll, Layer{n, "screening"})
}

// NewScreener starts judging one sensor's samples.
func NewScreener(cfg ScreenConfig, sensor, model string) *Screener {
	return &Screener{cfg: cfg, sensor: sensor, model: model}
}

// Sample judges one measurement. When the Result asks for a reading, the
// caller emits it and tells Settle how that went.
func (s *Screener) Sample(sm Sample) Result {
	s.undo = s.told()
	p := s.base()
	m := round(sm.Measured)
	p.Measured = &m
	p.Housing, p.Humidity, p.Emissivity = roundPtr(sm.Housing), roundPtr(sm.Humidity), roundPtr(sm.Emissivity)
	p.Status = sm.Status

	fault, detail := "", ""
	switch {
	case sm.BadStatus:
		fault, detail = "status", strings.Join(sm.Status, ",")
	case m < s.cfg.min || m > s.cfg.max:
		fault, detail = "out_of_range", fmt.Sprintf("%.2f °C outside %.1f to %.1f", m, s.cfg.min, s.cfg.max)
	}
	if fault == "" && s.cfg.stuckPolls > 0 {
		if s.stuckCount > 0 && math.Abs(m-s.stuckRef) <= s.cfg.stuckTol+1e-9 {
			s.stuckCount++
		} else {
			s.stuckRef, s.stuckCount = m, 1
		}
		if s.stuckCount >= s.cfg.stuckPolls {
			fault, detail = "stuck", fmt.Sprintf("%.2f °C unchanged for %d polls", s.stuckRef, s.stuckCount)
		}
	} else if fault != "" {
		s.stuckCount = 0
	}
	if fault != "" {
		return s.faulty(p, fault, detail)
	}

	if s.fault != "" {
		p.Events = append(p.Events, EventFaultCleared)
		s.fault = ""
	}
	c := m + s.cfg.offset
	if s.cfg.ambientCoeff != 0 && sm.Housing != nil {
		c += s.cfg.ambientCoeff * (s.cfg.ambientRef - *sm.Housing)
	}
	c = round(c)
	p.Celsius = &c
	if s.cfg.fever {
		switch {
		case !s.fever && c >= s.cfg.threshold-1e-9:
			s.above++
			if s.above >= s.cfg.confirm {
				s.fever = true
				p.Events = append(p.Events, EventFeverOnset)
			}
		case !s.fever:
			s.above = 0
		case c < s.cfg.threshold-s.cfg.hysteresis-1e-9:
			s.fever, s.above = false, 0
			p.Events = append(p.Events, EventFeverCleared)
		}
	}
	p.Fever = s.fever

	s.since++
	switch {
	case !s.started:
		p.Cause = "first"
	case len(p.Events) > 0:
		p.Cause = "event"
	case s.lastC == nil || math.Abs(c-*s.lastC) >= s.cfg.deadband-1e-9:
		p.Cause = "change"
	case s.since >= s.cfg.heartbeatPolls:
		p.Cause = "heartbeat"
	default:
		return Result{}
	}
	s.started, s.since, s.lastC = true, 0, &c
	return Result{Payload: p, Quality: reading.Quality{Status: reading.OK}, Emit: true}
}

// Fail records a poll that produced no measurement: no reply, an exception,
// an unusable frame, no sensor fitted.
func (s *Screener) Fail(fault, detail string) Result {
	s.undo = s.told()
	s.stuckCount = 0
	return s.faulty(s.base(), fault, detail)
}

// faulty publishes a fault when it begins or changes, then on heartbeats.
// The fever state is held through a fault: a broken sensor does not prove
// the traveller's fever has gone.
func (s *Screener) faulty(p Temperature, fault, detail string) Result {
	s.above = 0
	p.Fault, p.Detail, p.Fever = fault, detail, s.fever
	s.since++
	switch {
	case fault != s.fault:
		p.Events = append(p.Events, EventFault)
		p.Cause = "event"
		s.fault = fault
	case s.since >= s.cfg.heartbeatPolls:
		p.Cause = "heartbeat"
	default:
		return Result{}
	}
	s.started, s.since, s.lastC = true, 0, nil
	return Result{Payload: p, Quality: reading.Quality{Status: reading.Bad, Reason: fault + ": " + detail}, Emit: true}
}

func (s *Screener) base() Temperature {
	p := Temperature{Sensor: s.sensor, Model: s.model, Events: []string{}}
	if s.cfg.fever {
		th := s.cfg.threshold
		p.Threshold = &th
	}
	return p
}

// round keeps 4 decimals: register scaling (365 × 0.1) must not publish
// 36.50000000000001.
func round(v float64) float64 { return math.Round(v*1e4) / 1e4 }

func roundPtr(v *float64) *float64 {
	if v == nil {
		return nil
	}
	r := round(*v)
	return &r
}
