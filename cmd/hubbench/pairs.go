package main

import (
	"fmt"
	"slices"
)

// pair is one hub round and one relay round of the same set and boxes.
type pair struct{ hub, relay result }

func (p pair) ratio() float64 { return p.hub.rate() / p.relay.rate() }

// median is the middle of v (the mean of the two middle ones for an even
// count); v is left as it was.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summarize is the line after several pairs of one set and box count: the
// median ratio with its range, and the medians of each figure the pairs
// printed. On a shared machine one pair's ratio moves with whatever else
// runs; the median of alternating pairs moves less.
func summarize(set string, boxes int, runs []pair) string {
	var ratios, hub, relay, hubCPU, relayCPU, hubGen, relayGen []float64
	for _, p := range runs {
		ratios = append(ratios, p.ratio())
		hub, relay = append(hub, p.hub.rate()), append(relay, p.relay.rate())
		hubCPU, relayCPU = append(hubCPU, p.hub.cpuPer()), append(relayCPU, p.relay.cpuPer())
		hubGen, relayGen = append(hubGen, p.hub.genPer()), append(relayGen, p.relay.genPer())
	}
	line := fmt.Sprintf("%-8s %5d median of %d pairs: ratio %.2f (%.2f–%.2f), hubd %.0f r/s, mosquitto %.0f r/s", set, boxes, len(runs),
		median(ratios), slices.Min(ratios), slices.Max(ratios), median(hub), median(relay))
	if runs[0].hub.cpu > 0 && runs[0].hub.gen > 0 {
		line += fmt.Sprintf("; CPU per reading: hubd %.1f + boxes %.1f µs, mosquitto %.1f + boxes and subscriber %.1f µs",
			median(hubCPU), median(hubGen), median(relayCPU), median(relayGen))
	}
	return line
}
