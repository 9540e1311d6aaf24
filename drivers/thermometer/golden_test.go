package thermometer

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/kordon/kordon/hwtest/harness"
	"github.com/kordon/kordon/hwtest/trace"
)

var update = flag.Bool("update", false, "rewrite golden files from the driver's output")

// TestGoldenTraces replays every Modbus trace through a pseudo-terminal
// into the real driver (go.bug.st/serial, the real RTU master) and compares
// the readings with testdata/golden.
func TestGoldenTraces(t *testing.T) {
	cases, err := harness.Cases("testdata", *update)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 8 {
		t.Fatalf("%d golden cases, want every trace of the issue", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			col := replayTrace(t, c.Trace)
			if *update {
				if err := harness.WriteGolden(col.Readings(), c.Golden); err != nil {
					t.Fatal(err)
				}
				return
			}
			diff, err := harness.CompareGolden(col.Readings(), c.Golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff != "" {
				t.Errorf("readings differ from %s:\n%s", c.Golden, diff)
			}
		})
	}
}

func replayTrace(t *testing.T, path string) *harness.Collector {
	t.Helper()
	tr, err := trace.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	col, err := harness.ReplayThroughPTY(ctx, Driver, tr, 0)
	if err != nil {
		t.Fatal(err)
	}
	return col
}
