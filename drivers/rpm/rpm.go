// Package rpm drives radiation portal monitors that send a CSV line per
// sample: gamma and neutron counts per detector, tagged GB/NB (background,
// portal empty), GS/NS (scan, portal occupied), GA/NA (the monitor's own
// alarm), GX (occupancy ended), GH/GL/NH (faults), TT/TC (tamper, cleared).
//
// The box keeps its own background per detector while the portal is empty
// and alarms when a scan sample exceeds it by k·√background, once per
// occupancy; occupancy start, alarm and end are readings, and an alarmed
// occupancy can be exported as ANSI N42.42-style XML for reachback.
package rpm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/framing"
	"github.com/kordon/kordon/internal/grammar"
	"github.com/kordon/kordon/internal/reading"
)

// Driver registers the family (drivers/all).
var Driver = device.Driver{
	Name: "rpm",
	Kind: "radiation",
	Doc:  "radiation portal monitor: GB/NB/GS/NS/GA/NA/GX/GH/GL/NH/TT/TC CSV lines (serial or tcp)",
	New:  New,
}

// Options are the driver's settings in a box config.
type Options struct {
	// K is the alarm threshold in standard deviations: a scan sample alarms
	// above background + K·√background (default 5).
	K float64 `yaml:"k"`
	// BackgroundSamples is the averaging length of the background: each
	// background sample moves it by 1/BackgroundSamples of the difference
	// (default 10: follows slow rises such as rain within seconds).
	BackgroundSamples int `yaml:"background_samples"`
	// MinBackground is how many background samples are needed before scans
	// are judged (default 5).
	MinBackground int `yaml:"min_background"`
	// Silence reports the monitor down after this long without a line
	// (default 10s: a monitor sends background continuously).
	Silence time.Duration `yaml:"silence"`
	// N42Dir, when set, receives an N42.42-style XML file per alarmed
	// occupancy (e.g. next to the box state dir: /var/lib/kordon/n42).
	N42Dir string `yaml:"n42_dir"`
	// Instrument names the monitor in N42 exports (default the device id).
	Instrument string `yaml:"instrument"`
}

// Event is the radiation payload.
type Event struct {
	// Event is occupancy_start, alarm, occupancy_end, fault, fault_clear,
	// tamper or tamper_clear.
	Event     string   `json:"event"`
	Occupancy int      `json:"occupancy,omitempty"` // number of the occupancy since the driver started
	Gamma     *Channel `json:"gamma,omitempty"`
	Neutron   *Channel `json:"neutron,omitempty"`
	Alarm     *Alarm   `json:"alarm,omitempty"` // event alarm; occupancy_end of an alarmed occupancy
	Samples   int      `json:"samples,omitempty"`
	Fault     string   `json:"fault,omitempty"` // GH, GL, NH
	K         float64  `json:"k"`
	N42       *FileRef `json:"n42,omitempty"`
}

func (Event) Kind() string { return "radiation" }

// Channel is the state of one radiation channel's detectors.
type Channel struct {
	Background []float64 `json:"background"` // per detector, counts per sample
	Threshold  []float64 `json:"threshold"`
	// Counts is the sample that alarmed (alarm) or the highest count per
	// detector during the occupancy (occupancy_end).
	Counts []int `json:"counts,omitempty"`
}

// Alarm says what alarmed.
type Alarm struct {
	Channel    string  `json:"channel"`  // gamma or neutron
	Detector   int     `json:"detector"` // 1-based
	Counts     int     `json:"counts"`
	Background float64 `json:"background"`
	Threshold  float64 `json:"threshold"`
	Sigma      float64 `json:"sigma"`  // (counts - background) / √background
	Source     string  `json:"source"` // computed (k·√background) or monitor (GA/NA record)
}

// FileRef names a file written on the box.
type FileRef struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

type monitor struct {
	cfg  device.Config
	opts Options
}

// New validates the options.
func New(cfg device.Config) (device.Device, error) {
	o := Options{K: 5, BackgroundSamples: 10, MinBackground: 5, Silence: 10 * time.Second}
	if err := cfg.Options.Decode(&o); err != nil {
		return nil, err
	}
	bad := func(f, m string) error { return cfg.Options.Errorf(cfg.Options.Node, f, "%s", m) }
	switch {
	case !(o.K > 0 && o.K <= 100):
		return nil, bad("k", "must be above 0 (5 is common)")
	case o.BackgroundSamples < 1:
		return nil, bad("background_samples", "must be at least 1")
	case o.MinBackground < 1:
		return nil, bad("min_background", "must be at least 1")
	case o.Silence < 0:
		return nil, bad("silence", "must not be negative")
	}
	if o.N42Dir != "" && !filepath.IsAbs(o.N42Dir) {
		return nil, bad("n42_dir", "must be an absolute path")
	}
	if o.Instrument == "" {
		o.Instrument = cfg.ID
	}
	return &monitor{cfg: cfg, opts: o}, nil
}

// Run reads records until ctx ends or the port fails.
func (m *monitor) Run(ctx context.Context, out device.Output) error {
	t := newTracker(m.opts)
	return grammar.RunLines(ctx, m.cfg, out, grammar.LineOptions{MaxLen: 256, Silence: m.opts.Silence}, func(f framing.Frame) {
		rec, err := ParseRecord(string(f.Data))
		if err != nil {
			if errors.Is(err, ErrUnknownTag) {
				out.Count("records_unknown", 1)
			} else {
				out.Count("records_bad", 1)
			}
			return
		}
		evs, err := t.add(rec, f.At)
		if err != nil {
			out.Count("records_bad", 1)
			return
		}
		for _, ev := range evs {
			if ev.occ != nil && m.opts.N42Dir != "" {
				ref, err := m.writeN42(ev.occ)
				if err != nil {
					out.Count("n42_write_failed", 1)
				} else {
					ev.e.N42 = ref
				}
			}
			out.Emit(reading.Reading{Origin: ev.at, Payload: ev.e, Quality: ev.q})
		}
	})
}

func (m *monitor) writeN42(o *occupancy) (*FileRef, error) {
	b, err := N42(o.export(m.opts.Instrument, m.opts.K))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(m.opts.N42Dir, 0o755); err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s-%s-occ%d.n42", m.opts.Instrument, o.start.UTC().Format("20060102T150405.000Z"), o.n)
	path := filepath.Join(m.opts.N42Dir, name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	return &FileRef{Path: path, SHA256: sha256Hex(b)}, nil
}

// background is one channel's per-detector background estimate.
type background struct {
	mean []float64
	n    int // samples folded in
}

func (b *background) threshold(k float64) []float64 {
	out := make([]float64, len(b.mean))
	for i, m := range b.mean {
		out[i] = round1(m + k*math.Sqrt(math.Max(m, 1)))
	}
	return out
}

func (b *background) rounded() []float64 {
	out := make([]float64, len(b.mean))
	for i, m := range b.mean {
		out[i] = round1(m)
	}
	return out
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// sample is one scan record kept for the N42 export.
type sample struct {
	at     time.Time
	tag    Tag
	counts []int
}

type occupancy struct {
	n       int
	start   time.Time
	end     time.Time
	bgGamma []float64
	bgNeut  []float64
	samples []sample
	peak    map[Tag][]int // GS / NS peaks per detector
	alarm   *Alarm
}

type emitted struct {
	e   Event
	at  time.Time
	q   reading.Quality
	occ *occupancy // set on an alarmed occupancy_end: export it
}

// tracker is the driver's state machine, separate from I/O so it can be
// tested and benchmarked alone.
type tracker struct {
	o         Options
	gamma     background
	neutron   background
	occ       *occupancy
	count     int
	faults    map[Tag]bool
	tampered  bool
	detectors map[string]int // per channel, fixed by its first count record
}

func newTracker(o Options) *tracker {
	return &tracker{o: o, faults: map[Tag]bool{}, detectors: map[string]int{}}
}

func channelOf(t Tag) string {
	switch t {
	case NeutronBackground, NeutronScan, NeutronAlarm, NeutronHigh:
		return "neutron"
	}
	return "gamma"
}

func (t *tracker) bg(ch string) *background {
	if ch == "neutron" {
		return &t.neutron
	}
	return &t.gamma
}

func (t *tracker) channels(peaks bool) (g, n *Channel) {
	mk := func(b *background, peak []int) *Channel {
		if len(b.mean) == 0 {
			return nil
		}
		c := &Channel{Background: b.rounded(), Threshold: b.threshold(t.o.K)}
		if peaks {
			c.Counts = peak
		}
		return c
	}
	var gp, np []int
	if t.occ != nil {
		gp, np = t.occ.peak[GammaScan], t.occ.peak[NeutronScan]
	}
	return mk(&t.gamma, gp), mk(&t.neutron, np)
}

var ok = reading.Quality{Status: reading.OK}

// errDetectors is a count record whose detector count differs from the
// channel's first record: a corrupted line, not a new monitor.
var errDetectors = errors.New("rpm: detector count changed")

func (t *tracker) add(r Record, at time.Time) ([]emitted, error) {
	if len(r.Counts) > 0 {
		switch r.Tag {
		case GammaBackground, NeutronBackground, GammaScan, NeutronScan, GammaAlarm, NeutronAlarm:
			ch := channelOf(r.Tag)
			if d := t.detectors[ch]; d != 0 && d != len(r.Counts) {
				return nil, errDetectors
			}
			t.detectors[ch] = len(r.Counts)
		}
	}
	var out []emitted
	ev := func(e Event, q reading.Quality) {
		e.K = t.o.K
		out = append(out, emitted{e: e, at: at, q: q})
	}
	switch r.Tag {
	case GammaBackground, NeutronBackground:
		if t.occ != nil {
			// Background resumed without a GX: the occupancy ended unannounced.
			out = append(out, t.endOccupancy(at)...)
		}
		t.foldBackground(t.bg(channelOf(r.Tag)), r.Counts)
		if t.faults[GammaHigh] || t.faults[GammaLow] || t.faults[NeutronHigh] {
			for _, f := range []Tag{GammaHigh, GammaLow, NeutronHigh} {
				if t.faults[f] && channelOf(f) == channelOf(r.Tag) {
					delete(t.faults, f)
					ev(Event{Event: "fault_clear", Fault: string(f)}, ok)
				}
			}
		}
	case GammaScan, NeutronScan, GammaAlarm, NeutronAlarm:
		if t.occ == nil {
			t.count++
			t.occ = &occupancy{n: t.count, start: at, peak: map[Tag][]int{},
				bgGamma: t.gamma.rounded(), bgNeut: t.neutron.rounded()}
			g, n := t.channels(false)
			q := ok
			if t.gamma.n < t.o.MinBackground {
				q = reading.Quality{Status: reading.Suspect, Reason: fmt.Sprintf("only %d gamma background samples: scans not judged", t.gamma.n)}
			}
			ev(Event{Event: "occupancy_start", Occupancy: t.occ.n, Gamma: g, Neutron: n}, q)
		}
		out = append(out, t.scan(r, at)...)
	case OccupancyEnd:
		if t.occ != nil {
			out = append(out, t.endOccupancy(at)...)
		}
	case GammaHigh, GammaLow, NeutronHigh:
		if !t.faults[r.Tag] {
			t.faults[r.Tag] = true
			g, n := t.channels(false)
			ev(Event{Event: "fault", Fault: string(r.Tag), Gamma: g, Neutron: n},
				reading.Quality{Status: reading.Bad, Reason: faultText[r.Tag]})
		}
	case Tamper:
		if !t.tampered {
			t.tampered = true
			ev(Event{Event: "tamper"}, reading.Quality{Status: reading.Bad, Reason: "tamper switch open"})
		}
	case TamperClear:
		if t.tampered {
			t.tampered = false
			ev(Event{Event: "tamper_clear"}, ok)
		}
	}
	return out, nil
}

var faultText = map[Tag]string{
	GammaHigh:   "gamma background high fault",
	GammaLow:    "gamma background low fault (detector dead?)",
	NeutronHigh: "neutron background high fault",
}

// foldBackground moves the background towards a sample. A sample that
// would itself alarm (a source parked by the empty portal) is not folded
// in unless such samples persist, so one source cannot raise the
// threshold; a slow rise (rain) stays under the threshold and is followed.
func (t *tracker) foldBackground(b *background, counts []int) {
	if len(b.mean) != len(counts) {
		// First sample.
		b.mean = make([]float64, len(counts))
		for i, c := range counts {
			b.mean[i] = float64(c)
		}
		b.n = 1
		return
	}
	if b.n >= t.o.MinBackground {
		th := b.threshold(t.o.K)
		for i, c := range counts {
			if float64(c) > th[i] {
				return
			}
		}
	}
	alpha := 1 / float64(min(b.n+1, t.o.BackgroundSamples))
	for i, c := range counts {
		b.mean[i] += alpha * (float64(c) - b.mean[i])
	}
	b.n++
}

func (t *tracker) scan(r Record, at time.Time) []emitted {
	o := t.occ
	o.samples = append(o.samples, sample{at: at, tag: r.Tag, counts: r.Counts})
	scanTag := GammaScan
	if channelOf(r.Tag) == "neutron" {
		scanTag = NeutronScan
	}
	pk := o.peak[scanTag]
	if len(pk) != len(r.Counts) {
		pk = make([]int, len(r.Counts))
	}
	for i, c := range r.Counts {
		pk[i] = max(pk[i], c)
	}
	o.peak[scanTag] = pk
	if o.alarm != nil {
		return nil // one alarm per occupancy
	}
	ch := channelOf(r.Tag)
	b := t.bg(ch)
	var a *Alarm
	if b.n >= t.o.MinBackground && len(b.mean) == len(r.Counts) {
		th := b.threshold(t.o.K)
		best := 0.0
		for i, c := range r.Counts {
			sigma := (float64(c) - b.mean[i]) / math.Sqrt(math.Max(b.mean[i], 1))
			if float64(c) > th[i] && (a == nil || sigma > best) {
				best = sigma
				a = &Alarm{Channel: ch, Detector: i + 1, Counts: c, Background: round1(b.mean[i]), Threshold: th[i], Sigma: round1(sigma), Source: "computed"}
			}
		}
	}
	if a == nil && (r.Tag == GammaAlarm || r.Tag == NeutronAlarm) {
		// The monitor alarmed by its own algorithm: report it, with the
		// detector it counted highest.
		i := 0
		for j, c := range r.Counts {
			if c > r.Counts[i] {
				i = j
			}
		}
		a = &Alarm{Channel: ch, Detector: i + 1, Counts: r.Counts[i], Source: "monitor"}
		if len(b.mean) == len(r.Counts) {
			a.Background = round1(b.mean[i])
			a.Threshold = b.threshold(t.o.K)[i]
			a.Sigma = round1((float64(r.Counts[i]) - b.mean[i]) / math.Sqrt(math.Max(b.mean[i], 1)))
		}
	}
	if a == nil {
		return nil
	}
	o.alarm = a
	g, n := t.channels(false)
	if ch == "gamma" && g != nil {
		g.Counts = r.Counts
	} else if ch == "neutron" && n != nil {
		n.Counts = r.Counts
	}
	return []emitted{{e: Event{Event: "alarm", Occupancy: o.n, Alarm: a, Gamma: g, Neutron: n, Samples: len(o.samples), K: t.o.K}, at: at, q: ok}}
}

func (t *tracker) endOccupancy(at time.Time) []emitted {
	o := t.occ
	o.end = at
	g, n := t.channels(true)
	e := Event{Event: "occupancy_end", Occupancy: o.n, Gamma: g, Neutron: n, Alarm: o.alarm, Samples: len(o.samples), K: t.o.K}
	em := emitted{e: e, at: at, q: ok}
	if o.alarm != nil {
		em.occ = o
	}
	t.occ = nil
	return []emitted{em}
}
