package hub

import (
	"fmt"
	"testing"
)

// BenchmarkCommitterCPUByBatch is BenchmarkCommitterCPU at the default
// commit batch (4096) beside the one before it (1024): with 200 boxes a
// commit dirties about one leaf of the readings' key per box whatever it
// holds, so the larger batch shares those pages among more readings.
func BenchmarkCommitterCPUByBatch(b *testing.B) {
	for _, set := range []string{"routine", "mixed"} {
		for _, batch := range []int{4096, 1024} {
			b.Run(fmt.Sprintf("%s/batch=%d", set, batch), func(b *testing.B) { benchCommitterCPU(b, set, batch) })
		}
	}
}
