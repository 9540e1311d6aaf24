// Package poisson holds the exact two-rate Poisson test a radiation portal
// alarms by: p-values, count thresholds at a false-alarm probability, and
// their Gaussian sigma equivalents.
package poisson

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// The box's alarm test compares counts seen while the portal is occupied
// with counts seen while it was empty, both Poisson. Given x counts in w
// scan samples and T counts in n background samples of the same detector,
// and no source, x conditioned on x+T is binomial with p = w/(w+n): the
// exact test for two Poisson rates. It stays exact at a fraction of a
// count per sample (He-3 neutron panels) and carries the background's own
// uncertainty, where background + k·√background does neither.
//
// PValue is P(X ≥ x | x+T, p) = I_p(x, T+1), the regularized incomplete
// beta function (gonum: a well-kept implementation of a numerically
// delicate continued fraction).
func PValue(x, T, w, n int) float64 {
	if x <= 0 {
		return 1
	}
	p := float64(w) / float64(w+n)
	return mathext.RegIncBeta(float64(x), float64(T+1), p)
}

// LowPValue is P(X ≤ x | x+T, p): the test for counts lower than the
// background (a background that stepped down, a detector going dead).
func LowPValue(x, T, w, n int) float64 {
	if T <= 0 {
		return 1 // no background counts: nothing can be lower
	}
	p := float64(w) / float64(w+n)
	return 1 - mathext.RegIncBeta(float64(x+1), float64(T), p)
}

// Thresholds caches, per (T, n, w), the fewest counts whose p-value is at
// most alpha: thresholds depend on integer background totals only, so a
// steady background costs one search.
type Thresholds struct {
	alpha float64
	memo  map[[3]int]int
	low   map[[3]int]int
}

// Alpha is the false-alarm probability the thresholds are set at.
func (t *Thresholds) Alpha() float64 { return t.alpha }

// NewThresholds sets thresholds at false-alarm probability alpha.
func NewThresholds(alpha float64) *Thresholds {
	return &Thresholds{alpha: alpha, memo: map[[3]int]int{}, low: map[[3]int]int{}}
}

// Below is the largest x with LowPValue(x, T, w, n) ≤ alpha, or -1.
func (t *Thresholds) Below(T, w, n int) int {
	key := [3]int{T, w, n}
	if x, ok := t.low[key]; ok {
		return x
	}
	if len(t.low) > 1<<14 {
		clear(t.low)
	}
	x := -1
	if LowPValue(0, T, w, n) <= t.alpha {
		lo, hi := 0, int(float64(T)*float64(w)/float64(n))+1
		for lo < hi { // largest x in [lo, hi) with LowPValue ≤ alpha
			mid := (lo + hi + 1) / 2
			if LowPValue(mid, T, w, n) <= t.alpha {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		x = lo
	}
	t.low[key] = x
	return x
}

// At is the smallest x with PValue(x, T, w, n) ≤ alpha.
func (t *Thresholds) At(T, w, n int) int {
	key := [3]int{T, w, n}
	if x, ok := t.memo[key]; ok {
		return x
	}
	if len(t.memo) > 1<<14 {
		clear(t.memo) // backgrounds drifted far: start over rather than grow
	}
	mean := float64(T) * float64(w) / float64(n)
	lo := int(mean)
	hi := int(mean+30*math.Sqrt(mean+1)) + 30
	for PValue(hi, T, w, n) > t.alpha {
		hi *= 2
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if PValue(mid, T, w, n) <= t.alpha {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	t.memo[key] = lo
	return lo
}

// SigmaOf is the one-sided Gaussian equivalent of a tail probability, for
// people used to "k sigma" (p = 2.9e-7 is 5 sigma).
func SigmaOf(p float64) float64 {
	if p <= 0 {
		return 40
	}
	if p >= 0.5 {
		return 0
	}
	// mathext.NormalQuantile stays accurate in the far tail, where
	// math.Erfcinv(2p) loses 1-2p to rounding; 40 sigma says "far beyond".
	k := -mathext.NormalQuantile(p)
	if math.IsInf(k, 0) || math.IsNaN(k) || k > 40 {
		return 40
	}
	return k
}

// TailOf is the tail probability of k Gaussian sigmas.
func TailOf(k float64) float64 { return 0.5 * math.Erfc(k/math.Sqrt2) }
