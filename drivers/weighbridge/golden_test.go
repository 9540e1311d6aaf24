package weighbridge

import (
	"flag"
	"testing"

	"github.com/kordon/kordon/hwtest/goldentest"
)

var update = flag.Bool("update", false, "rewrite golden files from the driver's output")

// TestGoldenTraces replays every weighbridge trace through a
// pseudo-terminal into the real driver and compares the readings with
// testdata/golden.
func TestGoldenTraces(t *testing.T) {
	goldentest.Run(t, "testdata", Driver(), goldentest.Options{Update: *update})
}
