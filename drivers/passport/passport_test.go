package passport

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/kordon/kordon/hwtest/harness"
	"github.com/kordon/kordon/hwtest/trace"
)

var update = flag.Bool("update", false, "rewrite golden files from the driver's output")

// TestGoldenTraces replays every trace in testdata/traces through a
// pseudo-terminal into the real driver (go.bug.st/serial) and compares the
// readings with testdata/golden.
func TestGoldenTraces(t *testing.T) {
	cases, err := harness.Cases("testdata", *update)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no golden cases found")
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			tr, err := trace.ReadFile(c.Trace)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			col, err := harness.ReplayThroughPTY(ctx, Driver, tr, 0)
			if err != nil {
				t.Fatal(err)
			}
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

func TestNoiseIsCountedNotFatal(t *testing.T) {
	tr, err := trace.ReadFile("testdata/traces/line-noise-between.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	col, err := harness.ReplayThroughPTY(context.Background(), Driver, tr, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(col.Readings()); n != 2 {
		t.Fatalf("got %d readings, want the 2 documents around the noise", n)
	}
	if col.Counts()["lines_noise"] < 2 {
		t.Errorf("noise lines not counted: %v", col.Counts())
	}
}

func TestOriginIsFirstByteOfDocument(t *testing.T) {
	tr, err := trace.ReadFile("testdata/traces/line-td3-specimen.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	// Real time: the rows arrive 50 ms apart, the documents 3 s apart.
	col, err := harness.ReplayThroughPTY(context.Background(), Driver, tr, 1)
	if err != nil {
		t.Fatal(err)
	}
	rs := col.Readings()
	if len(rs) != 2 {
		t.Fatalf("got %d readings, want 2", len(rs))
	}
	gap := rs[1].Origin.Sub(rs[0].Origin)
	if gap < 2900*time.Millisecond || gap > 3200*time.Millisecond {
		t.Errorf("origin gap %v, want about 3s (first byte of each document)", gap)
	}
}

func TestOptionsAreValidated(t *testing.T) {
	for _, src := range []string{"framing: stx", "row_gap: -1s", "colour: red", "row_gap: soon"} {
		_, err := New(configWith(t, src))
		if err == nil {
			t.Errorf("options %q accepted", src)
		}
	}
}
