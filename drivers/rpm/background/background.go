// Package background keeps a radiation portal channel's background (the
// counts an empty portal sees, per detector), follows it through slow
// changes, holds out sudden ones until they are confirmed, and judges a
// vehicle's scan samples against it with exact Poisson tests.
package background

import (
	"math"

	"github.com/kordon/kordon/drivers/rpm/poisson"
)

// gateAlpha is the tail probability beyond which a background sample
// (per detector, or the channel's total) is held out rather than averaged
// in: about 6 sigma. Noise is then almost never held, and the lag of the
// running sum behind rain rising 1 % per sample (~3.6 sigma on a 4-panel
// gamma total) stays inside it, while a 40 % step on 250 counts (~12
// sigma) or a source on one panel is held out.
const gateAlpha = 1e-9

// Alarm says what alarmed: the rpm driver's alarm payload.
type Alarm struct {
	Channel  string `json:"channel"`  // gamma or neutron
	Detector int    `json:"detector"` // 1-based; for the occupancy test the detector with the largest excess
	// Test is window (one detector's last Window samples) or occupancy
	// (the channel's counts over the occupancy so far); monitor for a
	// GA/NA record the box's tests did not confirm.
	Test       string  `json:"test,omitempty"`
	Counts     int     `json:"counts"`            // counts the test summed
	Background float64 `json:"background"`        // counts expected for them from background
	Threshold  float64 `json:"threshold"`         // counts that alarm
	Sigma      float64 `json:"sigma"`             // Gaussian equivalent of the p-value
	PValue     float64 `json:"p_value,omitempty"` // exact Poisson p-value
	Source     string  `json:"source"`            // computed or monitor (GA/NA record)
	Samples    int     `json:"samples,omitempty"` // scan samples the test summed
}

// Change is a background that moved and was accepted (Fold).
type Change struct {
	Channel string    `json:"channel"`
	From    []float64 `json:"from"` // per detector, counts per sample
	To      []float64 `json:"to"`
	Factor  float64   `json:"factor"`       // channel total, to/from
	Held    int       `json:"held_samples"` // background samples of the new level held out before it was accepted
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }
func round2(f float64) float64 { return math.Round(f*100) / 100 }

// Config is how a background is kept and judged.
type Config struct {
	// Size is how many recent background samples are averaged.
	Size int
	// MinSamples is how many background samples are needed before scans
	// are judged.
	MinSamples int
	// StepSamples is how many significantly different background samples
	// are held out before they are accepted as the new background.
	StepSamples int
	// Window is how many consecutive scan samples each detector's sliding
	// test sums.
	Window int
	// Alpha gives the per-test tail probability for a channel of so many
	// detectors.
	Alpha func(detectors int) float64
}

// Background is one channel's background: the sum, per detector, of the
// last Size background samples, and the samples held out as a possible
// step.
type Background struct {
	ch string
	o  Config
	// th is built from o.Alpha once the detector count is known.
	th   *poisson.Thresholds
	gate *poisson.Thresholds

	ring [][]int // last size samples
	next int
	sum  []int // per detector, over ring
	n    int   // samples in ring

	held   [][]int // samples held out, oldest first
	passed int     // samples averaged in since the first held one
}

// New is the empty background of channel ch (gamma, neutron).
func New(ch string, c Config) *Background {
	return &Background{ch: ch, o: c, gate: poisson.NewThresholds(gateAlpha)}
}

// Detectors is how many detectors the channel has (0 before its first sample).
func (b *Background) Detectors() int { return len(b.sum) }

// Ready says whether scans can be judged.
func (b *Background) Ready() bool { return b.n >= b.o.MinSamples }

// total is the channel's summed background over all detectors.
func (b *Background) total() int {
	t := 0
	for _, v := range b.sum {
		t += v
	}
	return t
}

// Mean is detector d's background in counts per sample.
func (b *Background) Mean(d int) float64 {
	if b.n == 0 {
		return 0
	}
	return float64(b.sum[d]) / float64(b.n)
}

// Means are the detectors' backgrounds, rounded to 0.1 count.
func (b *Background) Means() []float64 {
	out := make([]float64, len(b.sum))
	for i := range b.sum {
		out[i] = round1(b.Mean(i))
	}
	return out
}

// WindowThresholds are, per detector, the counts in Window scan samples
// that alarm at the current background.
func (b *Background) WindowThresholds() []float64 {
	out := make([]float64, len(b.sum))
	if b.th == nil || b.n == 0 {
		return out
	}
	for i, T := range b.sum {
		out[i] = float64(b.th.At(T, b.o.Window, b.n))
	}
	return out
}

func (b *Background) push(counts []int) {
	if len(b.ring) < b.o.Size {
		b.ring = append(b.ring, counts)
		b.n++
	} else {
		old := b.ring[b.next]
		for i, v := range old {
			b.sum[i] -= v
		}
		b.ring[b.next] = counts
		b.next = (b.next + 1) % b.o.Size
	}
	for i, v := range counts {
		b.sum[i] += v
	}
}

// outlier says whether one background sample differs from the background
// beyond gateAlpha, on any detector or on the channel's total, high or low.
func (b *Background) outlier(counts []int) bool {
	x, T := 0, b.total()
	for i, c := range counts {
		x += c
		if c >= b.gate.At(b.sum[i], 1, b.n) || c <= b.gate.Below(b.sum[i], 1, b.n) {
			return true
		}
	}
	return x >= b.gate.At(T, 1, b.n) || x <= b.gate.Below(T, 1, b.n)
}

// Fold takes one background sample. A sample that differs significantly
// from the background (a source parked by the empty portal) is held out,
// so one source cannot raise the threshold; once StepSamples such samples
// have come (with no more averaged in since the first held one than were
// held) they become the background and the change is returned. A slow
// rise (rain) stays within the gate and is followed by the running sum.
func (b *Background) Fold(counts []int) *Change {
	c := append([]int(nil), counts...)
	if b.sum == nil {
		b.sum = make([]int, len(c))
		b.th = poisson.NewThresholds(b.o.Alpha(len(c)))
	}
	if !b.Ready() || !b.outlier(c) {
		b.push(c)
		if len(b.held) > 0 {
			b.passed++
			if b.passed > len(b.held) {
				b.held, b.passed = nil, 0 // a spike, not a step
			}
		}
		return nil
	}
	b.held = append(b.held, c)
	if len(b.held) < b.o.StepSamples || len(b.held) < b.passed {
		return nil
	}
	ch := &Change{Channel: b.ch, From: b.Means(), Held: len(b.held)}
	fromTotal := float64(b.total()) / float64(b.n)
	held := b.held
	b.ring, b.next, b.n, b.held, b.passed = nil, 0, 0, nil, 0
	clear(b.sum)
	for _, h := range held {
		b.push(h)
	}
	ch.To = b.Means()
	toTotal := float64(b.total()) / float64(b.n)
	switch {
	case fromTotal > 0:
		ch.Factor = round2(toTotal / fromTotal)
	case toTotal > 0:
		ch.Factor = 100
	default:
		ch.Factor = 1
	}
	return ch
}

// Judge runs the channel's tests on its scan sums: each detector's last
// Window samples, and the channel's total over the occupancy. It returns
// the most significant alarm, or nil.
func (b *Background) Judge(s *Scan) *Alarm {
	var best *Alarm
	consider := func(a *Alarm) {
		if best == nil || a.PValue < best.PValue {
			best = a
		}
	}
	w := len(s.recent)
	for d, T := range b.sum {
		x := s.windowSum(d)
		th := b.th.At(T, w, b.n)
		if x >= th {
			p := poisson.PValue(x, T, w, b.n)
			consider(&Alarm{Channel: b.ch, Detector: d + 1, Test: "window", Counts: x, Samples: w,
				Background: round1(float64(T) * float64(w) / float64(b.n)), Threshold: float64(th),
				PValue: p, Sigma: round1(poisson.SigmaOf(p)), Source: "computed"})
		}
	}
	x, T := 0, b.total()
	for _, v := range s.total {
		x += v
	}
	if th := b.th.At(T, s.n, b.n); x >= th {
		p := poisson.PValue(x, T, s.n, b.n)
		// Name the detector that contributed the largest excess.
		d, excess := 0, -1.0
		for i, v := range s.total {
			if e := float64(v) - b.Mean(i)*float64(s.n); e > excess {
				d, excess = i, e
			}
		}
		consider(&Alarm{Channel: b.ch, Detector: d + 1, Test: "occupancy", Counts: x, Samples: s.n,
			Background: round1(float64(T) * float64(s.n) / float64(b.n)), Threshold: float64(th),
			PValue: p, Sigma: round1(poisson.SigmaOf(p)), Source: "computed"})
	}
	return best
}

// Samples is how many background samples are averaged now.
func (b *Background) Samples() int { return b.n }

// Alpha is the per-test tail probability, once the detector count is
// known.
func (b *Background) Alpha() (float64, bool) {
	if b.th == nil {
		return 0, false
	}
	return b.th.Alpha(), true
}

// One judges a single sample of x counts on detector d (a monitor's own
// alarm record): the counts expected, the counts that alarm and the exact
// p-value. ok is false before the background has a sample of as many
// detectors.
func (b *Background) One(d, x int) (expected, threshold, p float64, ok bool) {
	if d >= len(b.sum) || b.n == 0 {
		return 0, 0, 0, false
	}
	T := b.sum[d]
	return round1(float64(T) / float64(b.n)), float64(b.th.At(T, 1, b.n)), poisson.PValue(x, T, 1, b.n), true
}

// Scan is one channel's counts during an occupancy: the last Window
// samples per detector and the totals.
type Scan struct {
	recent [][]int // ring of the last Window samples
	next   int
	total  []int
	n      int // samples
}

// Add takes one scan sample.
func (s *Scan) Add(counts []int, window int) {
	if s.total == nil {
		s.total = make([]int, len(counts))
		s.recent = make([][]int, 0, window)
	}
	c := append([]int(nil), counts...)
	if len(s.recent) < window {
		s.recent = append(s.recent, c)
	} else {
		s.recent[s.next] = c
		s.next = (s.next + 1) % window
	}
	for i, v := range counts {
		s.total[i] += v
	}
	s.n++
}

// windowSum is detector d's counts over the last len(recent) samples.
func (s *Scan) windowSum(d int) int {
	x := 0
	for _, r := range s.recent {
		x += r[d]
	}
	return x
}
