package thermometer

import (
	"flag"
	"testing"

	"github.com/kordon/kordon/hwtest/goldentest"
)

var update = flag.Bool("update", false, "rewrite golden files from the driver's output")

// TestGoldenTraces replays every Modbus trace through a pseudo-terminal
// into the real driver (go.bug.st/serial, the real RTU master), compares
// the readings with testdata/golden, and checks what some traces exist for.
func TestGoldenTraces(t *testing.T) {
	cols := goldentest.Run(t, "testdata", Driver(), goldentest.Options{Update: *update})
	if *update {
		return
	}
	if n := len(cols.Names()); n < 8 {
		t.Fatalf("%d golden cases, want every trace of the issue", n)
	}
	checkTimeoutTrace(t, cols.Get(t, "calex-timeout"))
	checkCRCTrace(t, cols.Get(t, "calex-crc"))
}
