package main

import (
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		in := append([]float64(nil), c.in...)
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", in, got, c.want)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Errorf("median reordered its input: %v, was %v", c.in, in)
			}
		}
	}
}

// round is a round that acknowledged n readings in one second, its broker
// spending cpu and the boxes gen.
func round(n int64, cpu, gen time.Duration) result {
	return result{acked: n, elapsed: time.Second, cpu: cpu, gen: gen}
}

func TestSummarizeGivesTheMedianPairAndTheRange(t *testing.T) {
	runs := []pair{
		{hub: round(30000, 1200*time.Millisecond, 480*time.Millisecond), relay: round(40000, 520*time.Millisecond, 1760*time.Millisecond)}, // 0.75
		{hub: round(36000, 1296*time.Millisecond, 540*time.Millisecond), relay: round(30000, 390*time.Millisecond, 1320*time.Millisecond)}, // 1.20
		{hub: round(33000, 1320*time.Millisecond, 495*time.Millisecond), relay: round(36000, 468*time.Millisecond, 1584*time.Millisecond)}, // 0.92
	}
	got := summarize("mixed", 200, runs)
	for _, want := range []string{
		"median of 3 pairs: ratio 0.92 (0.75–1.20)",
		"hubd 33000 r/s, mosquitto 36000 r/s",
		// CPU per reading, each the median of the three: hubd 40, 36, 40 µs;
		// its boxes 16, 15, 15; mosquitto 13, 13, 13; boxes and subscriber 44.
		"hubd 40.0 + boxes 15.0 µs, mosquitto 13.0 + boxes and subscriber 44.0 µs",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary %q lacks %q", got, want)
		}
	}
}

func TestSummarizeLeavesOutCPUUnknownInProcess(t *testing.T) {
	runs := []pair{{hub: round(30000, 0, 0), relay: round(30000, time.Second, time.Second)}, {hub: round(30000, 0, 0), relay: round(30000, time.Second, time.Second)}}
	if got := summarize("routine", 10, runs); strings.Contains(got, "CPU") {
		t.Errorf("summary of in-process hub rounds gives CPU figures it cannot know: %q", got)
	}
}
