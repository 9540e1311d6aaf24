// Package rpm drives radiation portal monitors that send a CSV line per
// sample: gamma and neutron counts per detector, tagged GB/NB (background,
// portal empty), GS/NS (scan, portal occupied), GA/NA (the monitor's own
// alarm), GX (occupancy ended), GH/GL/NH (faults), TT/TC (tamper, cleared).
//
// The box keeps its own background per detector while the portal is empty
// and judges each occupancy with an exact Poisson test (packages background and poisson) against
// it, gamma and neutron separately, at a stated false-alarm probability per
// clean occupancy; occupancy start, alarm and end are readings, a
// background that moved is a notice (or a fault when the move is
// implausible), and an alarmed occupancy can be exported as ANSI
// N42.42-style XML for reachback. README.md gives the statistics.
package rpm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/kordon/kordon/drivers/rpm/background"
	"github.com/kordon/kordon/drivers/rpm/n42"
	"github.com/kordon/kordon/drivers/rpm/poisson"
	"github.com/kordon/kordon/drivers/rpm/record"
	"github.com/kordon/kordon/internal/atomicfile"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/framing"
	"github.com/kordon/kordon/internal/grammar"
	"github.com/kordon/kordon/internal/reading"
)

// Driver registers the family (drivers/all).
func Driver() device.Driver {
	return device.Driver{
		Name:  "rpm",
		Kind:  "radiation",
		Doc:   "radiation portal monitor: GB/NB/GS/NS/GA/NA/GX/GH/GL/NH/TT/TC CSV lines (serial or tcp)",
		Ports: []device.PortKind{device.Stream},
		New:   New,
	}
}

// Options are the driver's settings in a box config.
type Options struct {
	// FalseAlarm is the chance that a clean occupancy alarms, per channel
	// (gamma, neutron), for an occupancy of up to ReferenceSamples samples
	// (default 0.001: one clean vehicle in a thousand at most).
	FalseAlarm float64 `yaml:"false_alarm"`
	// K, when set, replaces FalseAlarm's split: each test alarms at the
	// tail probability of K Gaussian sigmas (5 → 2.9e-7), computed exactly
	// for Poisson counts.
	K float64 `yaml:"k"`
	// Window is how many consecutive scan samples each detector's sliding
	// test sums (default 5: one second at 200 ms, the time a source takes
	// to pass a panel at walking-to-8 km/h speeds).
	Window int `yaml:"window"`
	// ReferenceSamples is the occupancy length FalseAlarm is stated for
	// (default 50: 10 s at 200 ms); longer occupancies run more tests.
	ReferenceSamples int `yaml:"reference_samples"`
	// BackgroundSamples and NeutronBackgroundSamples are how many recent
	// background samples the gamma and the neutron background average
	// (defaults 25 and 100: gamma follows rain within seconds; neutron
	// counts are a fraction per sample and need the longer average).
	BackgroundSamples        int `yaml:"background_samples"`
	NeutronBackgroundSamples int `yaml:"neutron_background_samples"`
	// MinBackground is how many background samples are needed before scans
	// are judged (default 5).
	MinBackground int `yaml:"min_background"`
	// StepSamples is how many background samples that differ
	// significantly from the background (a parked source, a weather front,
	// a new building) are held out before they are accepted as the new
	// background with a background_change reading (default 25: 5 s of
	// empty portal at 200 ms). Held samples that are not confirmed never
	// move the threshold. Counted in samples, not seconds, because only an
	// empty portal sends background.
	StepSamples int `yaml:"step_samples"`
	// StepFault is the factor beyond which an accepted background change
	// is implausible and reported as a fault as well (default 3).
	StepFault float64 `yaml:"step_fault"`
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
	// Event is occupancy_start, alarm, occupancy_end, background_change,
	// fault, fault_clear, tamper or tamper_clear.
	Event     string   `json:"event"`
	Occupancy int      `json:"occupancy,omitempty"` // number of the occupancy since the driver started
	Gamma     *Channel `json:"gamma,omitempty"`
	Neutron   *Channel `json:"neutron,omitempty"`
	Alarm     *Alarm   `json:"alarm,omitempty"` // event alarm; occupancy_end of an alarmed occupancy
	Samples   int      `json:"samples,omitempty"`
	// Fault is GH, GL or NH (the monitor's), or background (the box's: an
	// implausible background change).
	Fault  string  `json:"fault,omitempty"`
	Change *Change `json:"change,omitempty"` // background_change, fault background
	// K is the Gaussian-sigma equivalent of each test's tail probability.
	K float64 `json:"k"`
	// FalseAlarm is the design false-alarm probability per clean occupancy
	// and channel; Window the sliding test's length in samples.
	FalseAlarm float64  `json:"false_alarm,omitempty"`
	Window     int      `json:"window,omitempty"`
	N42        *FileRef `json:"n42,omitempty"`
}

func (Event) Kind() string { return "radiation" }

// Channel is the state of one radiation channel's detectors.
type Channel struct {
	Background []float64 `json:"background"` // per detector, counts per sample
	// Threshold is per detector the counts in Window scan samples that
	// alarm at the current background.
	Threshold []float64 `json:"threshold"`
	// Counts is the sample that alarmed (alarm) or the highest count per
	// detector during the occupancy (occupancy_end).
	Counts []int `json:"counts,omitempty"`
}

// Alarm says what alarmed (package background judges scans).
type Alarm = background.Alarm

// Change is a background that moved and was accepted.
type Change = background.Change

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
	o := defaultOptions()
	if err := cfg.Options.Decode(&o); err != nil {
		return nil, err
	}
	bad := func(f, m string) error { return cfg.Options.Errorf(f, "%s", m) }
	switch {
	case !(o.FalseAlarm > 0 && o.FalseAlarm < 1):
		return nil, bad("false_alarm", "must be between 0 and 1 (0.001 is one clean occupancy in a thousand)")
	case o.K != 0 && !(o.K > 0 && o.K <= 30):
		return nil, bad("k", "must be above 0 and at most 30 (5 is common)")
	case o.Window < 1 || o.Window > 100:
		return nil, bad("window", "must be 1 to 100 samples")
	case o.ReferenceSamples < 1:
		return nil, bad("reference_samples", "must be at least 1")
	case o.BackgroundSamples < 1:
		return nil, bad("background_samples", "must be at least 1")
	case o.NeutronBackgroundSamples < 1:
		return nil, bad("neutron_background_samples", "must be at least 1")
	case o.MinBackground < 1:
		return nil, bad("min_background", "must be at least 1")
	case o.StepSamples < 1:
		return nil, bad("step_samples", "must be at least 1")
	case !(o.StepFault > 1):
		return nil, bad("step_fault", "must be above 1")
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

func defaultOptions() Options {
	return Options{FalseAlarm: 0.001, Window: 5, ReferenceSamples: 50, BackgroundSamples: 25,
		NeutronBackgroundSamples: 100, MinBackground: 5, StepSamples: 25, StepFault: 3,
		Silence: 10 * time.Second}
}

// Run reads records until ctx ends or the port fails.
func (m *monitor) Run(ctx context.Context, out device.Output) error {
	t := newTracker(m.opts)
	return grammar.RunLines(ctx, m.cfg, out, grammar.LineOptions{MaxLen: 256, Silence: m.opts.Silence}, func(f framing.Frame) {
		rec, err := record.Parse(string(f.Data))
		if err != nil {
			if errors.Is(err, record.ErrUnknownTag) {
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
				ref, err := m.writeN42(ev.occ, ev.e.K)
				if err != nil {
					out.Count("n42_write_failed", 1)
				} else {
					ev.e.N42 = ref
				}
			}
			if err := out.Emit(reading.Reading{Origin: ev.at, Payload: ev.e, Quality: ev.q}); err != nil {
				t.lost(ev.e)
			}
		}
	})
}

func (m *monitor) writeN42(o *occupancy, k float64) (*FileRef, error) {
	b, err := n42.Write(o.export(m.opts.Instrument, k))
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s-%s-occ%d.n42", m.opts.Instrument, o.start.UTC().Format("20060102T150405.000Z"), o.n)
	path := filepath.Join(m.opts.N42Dir, name)
	// The reading that names the file may outlive a power cut: so must the file.
	if err := atomicfile.Write(path, b, 0o644); err != nil {
		return nil, err
	}
	return &FileRef{Path: path, SHA256: sha256Hex(b)}, nil
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }
func round2(f float64) float64 { return math.Round(f*100) / 100 }

// sample is one scan record kept for the N42 export.
type sample struct {
	at     time.Time
	tag    record.Tag
	counts []int
}

type occupancy struct {
	n       int
	start   time.Time
	end     time.Time
	bgGamma []float64
	bgNeut  []float64
	samples []sample
	peak    map[record.Tag][]int // GS / NS peaks per detector
	scans   map[string]*background.Scan
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
	gamma     *background.Background
	neutron   *background.Background
	occ       *occupancy
	count     int
	faults    map[string]bool
	tampered  bool
	detectors map[string]int // per channel, fixed by its first count record
}

// lost is told of an event the box did not keep. A lost alarm is forgotten,
// so the occupancy's next sample over the threshold raises it again instead
// of being held back by "one alarm per occupancy".
func (t *tracker) lost(e Event) {
	if e.Event == "alarm" && t.occ != nil && t.occ.n == e.Occupancy {
		t.occ.alarm = nil
	}
}

func newTracker(o Options) *tracker {
	// Bonferroni: each channel runs one window test per detector and one
	// occupancy test per sample; over ReferenceSamples samples that is
	// (detectors+1)·ReferenceSamples tests sharing FalseAlarm. They
	// overlap, so the real rate is lower (README.md measures it).
	alpha := func(detectors int) float64 {
		if o.K > 0 {
			return poisson.TailOf(o.K)
		}
		return o.FalseAlarm / float64((detectors+1)*o.ReferenceSamples)
	}
	t := &tracker{o: o, faults: map[string]bool{}, detectors: map[string]int{}}
	c := background.Config{MinSamples: o.MinBackground, StepSamples: o.StepSamples, Window: o.Window, Alpha: alpha}
	g, n := c, c
	g.Size, n.Size = o.BackgroundSamples, o.NeutronBackgroundSamples
	t.gamma = background.New("gamma", g)
	t.neutron = background.New("neutron", n)
	return t
}

func channelOf(t record.Tag) string {
	switch t {
	case record.NeutronBackground, record.NeutronScan, record.NeutronAlarm, record.NeutronHigh:
		return "neutron"
	}
	return "gamma"
}

func (t *tracker) bg(ch string) *background.Background {
	if ch == "neutron" {
		return t.neutron
	}
	return t.gamma
}

func (t *tracker) channels(peaks bool) (g, n *Channel) {
	mk := func(b *background.Background, peak []int) *Channel {
		if !b.Ready() && b.Samples() == 0 {
			return nil
		}
		c := &Channel{Background: b.Means(), Threshold: b.WindowThresholds()}
		if peaks {
			c.Counts = peak
		}
		return c
	}
	var gp, np []int
	if t.occ != nil {
		gp, np = t.occ.peak[record.GammaScan], t.occ.peak[record.NeutronScan]
	}
	return mk(t.gamma, gp), mk(t.neutron, np)
}

func ok() reading.Quality { return reading.Quality{Status: reading.OK} }

// errDetectors is a count record whose detector count differs from the
// channel's first record: a corrupted line, not a new monitor.
var errDetectors = errors.New("rpm: detector count changed")

func (t *tracker) event(e Event) Event {
	e.K = t.o.K
	if e.K == 0 {
		alpha, ok := t.gamma.Alpha()
		if !ok {
			alpha, ok = t.neutron.Alpha()
		}
		if !ok {
			alpha = t.o.FalseAlarm / float64(t.o.ReferenceSamples)
		}
		e.K = round2(poisson.SigmaOf(alpha))
		e.FalseAlarm = t.o.FalseAlarm
	}
	e.Window = t.o.Window
	return e
}

func (t *tracker) add(r record.Record, at time.Time) ([]emitted, error) {
	if len(r.Counts) > 0 {
		switch r.Tag {
		case record.GammaBackground, record.NeutronBackground, record.GammaScan, record.NeutronScan, record.GammaAlarm, record.NeutronAlarm:
			ch := channelOf(r.Tag)
			if d := t.detectors[ch]; d != 0 && d != len(r.Counts) {
				return nil, errDetectors
			}
			t.detectors[ch] = len(r.Counts)
		}
	}
	var out []emitted
	ev := func(e Event, q reading.Quality) {
		out = append(out, emitted{e: t.event(e), at: at, q: q})
	}
	switch r.Tag {
	case record.GammaBackground, record.NeutronBackground:
		if t.occ != nil {
			// Background resumed without a GX: the occupancy ended unannounced.
			out = append(out, t.endOccupancy(at)...)
		}
		ch := channelOf(r.Tag)
		if c := t.bg(ch).Fold(r.Counts); c != nil {
			g, n := t.channels(false)
			if c.Factor > t.o.StepFault || c.Factor < 1/t.o.StepFault {
				ev(Event{Event: "fault", Fault: "background", Change: c, Gamma: g, Neutron: n},
					reading.Quality{Status: reading.Bad, Reason: fmt.Sprintf("%s background changed ×%.2f at once: a source or a detector fault, not weather", ch, c.Factor)})
			} else {
				ev(Event{Event: "background_change", Change: c, Gamma: g, Neutron: n}, ok())
			}
		}
		for _, f := range []record.Tag{record.GammaHigh, record.GammaLow, record.NeutronHigh} {
			if t.faults[string(f)] && channelOf(f) == ch {
				delete(t.faults, string(f))
				ev(Event{Event: "fault_clear", Fault: string(f)}, ok())
			}
		}
	case record.GammaScan, record.NeutronScan, record.GammaAlarm, record.NeutronAlarm:
		if t.occ == nil {
			t.count++
			t.occ = &occupancy{n: t.count, start: at, peak: map[record.Tag][]int{}, scans: map[string]*background.Scan{},
				bgGamma: t.gamma.Means(), bgNeut: t.neutron.Means()}
			g, n := t.channels(false)
			q := ok()
			if !t.gamma.Ready() {
				q = reading.Quality{Status: reading.Suspect, Reason: fmt.Sprintf("only %d gamma background samples: scans not judged", t.gamma.Samples())}
			}
			ev(Event{Event: "occupancy_start", Occupancy: t.occ.n, Gamma: g, Neutron: n}, q)
		}
		out = append(out, t.scan(r, at)...)
	case record.OccupancyEnd:
		if t.occ != nil {
			out = append(out, t.endOccupancy(at)...)
		}
	case record.GammaHigh, record.GammaLow, record.NeutronHigh:
		if !t.faults[string(r.Tag)] {
			t.faults[string(r.Tag)] = true
			g, n := t.channels(false)
			ev(Event{Event: "fault", Fault: string(r.Tag), Gamma: g, Neutron: n},
				reading.Quality{Status: reading.Bad, Reason: faultText(r.Tag)})
		}
	case record.Tamper:
		if !t.tampered {
			t.tampered = true
			ev(Event{Event: "tamper"}, reading.Quality{Status: reading.Bad, Reason: "tamper switch open"})
		}
	case record.TamperClear:
		if t.tampered {
			t.tampered = false
			ev(Event{Event: "tamper_clear"}, ok())
		}
	}
	return out, nil
}

func faultText(t record.Tag) string {
	switch t {
	case record.GammaHigh:
		return "gamma background high fault"
	case record.GammaLow:
		return "gamma background low fault (detector dead?)"
	case record.NeutronHigh:
		return "neutron background high fault"
	}
	return ""
}

func (t *tracker) scan(r record.Record, at time.Time) []emitted {
	o := t.occ
	o.samples = append(o.samples, sample{at: at, tag: r.Tag, counts: r.Counts})
	scanTag := record.GammaScan
	ch := channelOf(r.Tag)
	if ch == "neutron" {
		scanTag = record.NeutronScan
	}
	pk := o.peak[scanTag]
	if len(pk) != len(r.Counts) {
		pk = make([]int, len(r.Counts))
	}
	for i, c := range r.Counts {
		pk[i] = max(pk[i], c)
	}
	o.peak[scanTag] = pk
	ss := o.scans[ch]
	if ss == nil {
		ss = &background.Scan{}
		o.scans[ch] = ss
	}
	ss.Add(r.Counts, t.o.Window)
	if o.alarm != nil {
		return nil // one alarm per occupancy
	}
	b := t.bg(ch)
	var a *Alarm
	if b.Ready() && b.Detectors() == len(r.Counts) {
		a = b.Judge(ss)
	}
	if a == nil && (r.Tag == record.GammaAlarm || r.Tag == record.NeutronAlarm) {
		// The monitor alarmed by its own algorithm: report it, with the
		// detector it counted highest.
		i := 0
		for j, c := range r.Counts {
			if c > r.Counts[i] {
				i = j
			}
		}
		a = &Alarm{Channel: ch, Detector: i + 1, Counts: r.Counts[i], Source: "monitor", Test: "monitor", Samples: 1}
		if b.Detectors() == len(r.Counts) {
			if bg, th, p, ok := b.One(i, r.Counts[i]); ok {
				a.Background, a.Threshold = bg, th
				a.PValue, a.Sigma = p, round1(poisson.SigmaOf(p))
			}
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
	return []emitted{{e: t.event(Event{Event: "alarm", Occupancy: o.n, Alarm: a, Gamma: g, Neutron: n, Samples: len(o.samples)}), at: at, q: ok()}}
}

func (t *tracker) endOccupancy(at time.Time) []emitted {
	o := t.occ
	o.end = at
	g, n := t.channels(true)
	e := t.event(Event{Event: "occupancy_end", Occupancy: o.n, Gamma: g, Neutron: n, Alarm: o.alarm, Samples: len(o.samples)})
	em := emitted{e: e, at: at, q: ok()}
	if o.alarm != nil {
		em.occ = o
	}
	t.occ = nil
	return []emitted{em}
}

// export is an alarmed occupancy as the N42 document needs it.
func (o *occupancy) export(instrument string, k float64) n42.Export {
	e := n42.Export{Instrument: instrument, K: k, Start: o.start, End: o.end, Occupancy: o.n,
		Background: map[string][]float64{"gamma": o.bgGamma, "neutron": o.bgNeut}}
	for _, s := range o.samples {
		e.Samples = append(e.Samples, n42.ExportSample{At: s.at, Channel: channelOf(s.tag), Counts: s.counts})
	}
	if a := o.alarm; a != nil {
		e.Alarm = n42.Alarm{Channel: a.Channel, Detector: a.Detector, Counts: a.Counts, Background: a.Background,
			Threshold: a.Threshold, Sigma: a.Sigma, Source: a.Source}
	}
	return e
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
