package rpm

import "github.com/kordon/kordon/drivers/rpm/poisson"

// gateAlpha is the tail probability beyond which a background sample
// (per detector, or the channel's total) is held out rather than averaged
// in: about 6 sigma. Noise is then almost never held, and the lag of the
// running sum behind rain rising 1 % per sample (~3.6 sigma on a 4-panel
// gamma total) stays inside it, while a 40 % step on 250 counts (~12
// sigma) or a source on one panel is held out.
const gateAlpha = 1e-9

// background is one channel's background: the sum, per detector, of the
// last size background samples, and the samples held out as a possible
// step.
type background struct {
	ch   string
	size int
	o    Options
	// alphaFor gives the per-test tail probability for a channel of d
	// detectors; th is built once the detector count is known.
	alphaFor func(detectors int) float64
	th       *poisson.Thresholds
	gate     *poisson.Thresholds

	ring [][]int // last size samples
	next int
	sum  []int // per detector, over ring
	n    int   // samples in ring

	held   [][]int // samples held out, oldest first
	passed int     // samples averaged in since the first held one
}

func newBackground(ch string, size int, o Options, alphaFor func(int) float64) *background {
	return &background{ch: ch, size: size, o: o, alphaFor: alphaFor, gate: poisson.NewThresholds(gateAlpha)}
}

func (b *background) detectors() int { return len(b.sum) }

// ready says whether scans can be judged.
func (b *background) ready() bool { return b.n >= b.o.MinBackground }

func (b *background) total() int {
	t := 0
	for _, v := range b.sum {
		t += v
	}
	return t
}

func (b *background) mean(d int) float64 {
	if b.n == 0 {
		return 0
	}
	return float64(b.sum[d]) / float64(b.n)
}

func (b *background) rounded() []float64 {
	out := make([]float64, len(b.sum))
	for i := range b.sum {
		out[i] = round1(b.mean(i))
	}
	return out
}

// windowThresholds are, per detector, the counts in Window scan samples
// that alarm at the current background.
func (b *background) windowThresholds() []float64 {
	out := make([]float64, len(b.sum))
	if b.th == nil || b.n == 0 {
		return out
	}
	for i, T := range b.sum {
		out[i] = float64(b.th.At(T, b.o.Window, b.n))
	}
	return out
}

func (b *background) push(counts []int) {
	if len(b.ring) < b.size {
		b.ring = append(b.ring, counts)
		b.n++
	} else {
		old := b.ring[b.next]
		for i, v := range old {
			b.sum[i] -= v
		}
		b.ring[b.next] = counts
		b.next = (b.next + 1) % b.size
	}
	for i, v := range counts {
		b.sum[i] += v
	}
}

// outlier says whether one background sample differs from the background
// beyond gateAlpha, on any detector or on the channel's total, high or low.
func (b *background) outlier(counts []int) bool {
	x, T := 0, b.total()
	for i, c := range counts {
		x += c
		if c >= b.gate.At(b.sum[i], 1, b.n) || c <= b.gate.Below(b.sum[i], 1, b.n) {
			return true
		}
	}
	return x >= b.gate.At(T, 1, b.n) || x <= b.gate.Below(T, 1, b.n)
}

// fold takes one background sample. A sample that differs significantly
// from the background (a source parked by the empty portal) is held out,
// so one source cannot raise the threshold; once StepSamples such samples
// have come (with no more averaged in since the first held one than were
// held) they become the background and the change is returned. A slow
// rise (rain) stays within the gate and is followed by the running sum.
func (b *background) fold(counts []int) *Change {
	c := append([]int(nil), counts...)
	if b.sum == nil {
		b.sum = make([]int, len(c))
		b.th = poisson.NewThresholds(b.alphaFor(len(c)))
	}
	if !b.ready() || !b.outlier(c) {
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
	ch := &Change{Channel: b.ch, From: b.rounded(), Held: len(b.held)}
	fromTotal := float64(b.total()) / float64(b.n)
	held := b.held
	b.ring, b.next, b.n, b.held, b.passed = nil, 0, 0, nil, 0
	clear(b.sum)
	for _, h := range held {
		b.push(h)
	}
	ch.To = b.rounded()
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

// judge runs the channel's tests on its scan sums: each detector's last
// Window samples, and the channel's total over the occupancy. It returns
// the most significant alarm, or nil.
func (b *background) judge(s *scanSums) *Alarm {
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
			if e := float64(v) - b.mean(i)*float64(s.n); e > excess {
				d, excess = i, e
			}
		}
		consider(&Alarm{Channel: b.ch, Detector: d + 1, Test: "occupancy", Counts: x, Samples: s.n,
			Background: round1(float64(T) * float64(s.n) / float64(b.n)), Threshold: float64(th),
			PValue: p, Sigma: round1(poisson.SigmaOf(p)), Source: "computed"})
	}
	return best
}
