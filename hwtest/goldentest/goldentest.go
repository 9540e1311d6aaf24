// Package goldentest is the one golden runner: it replays a family's
// recorded traces (testdata/traces/NAME.jsonl) into its real driver, each
// once, and holds the readings to testdata/golden/NAME.jsonl. A family's
// TestGoldenTraces calls Run and then asserts what each trace exists for
// by name; hwtest's trace library test checks with Cases that every trace
// in the tree has its golden file and is run this way.
package goldentest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/hwtest/harness"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/device"
)

// Case is one trace with its golden file.
type Case struct {
	Name   string
	Trace  string
	Golden string
}

// Cases pairs every dir/traces/NAME.jsonl with dir/golden/NAME.jsonl. A
// trace without a golden file, or a golden file without its trace (a
// renamed trace), is an error: nothing is skipped silently. With update,
// traces without a golden file are listed so that one can be written.
func Cases(dir string, update bool) ([]Case, error) {
	traces, err := filepath.Glob(filepath.Join(dir, "traces", "*.jsonl"))
	if err != nil {
		return nil, err
	}
	goldens, err := filepath.Glob(filepath.Join(dir, "golden", "*.jsonl"))
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, g := range goldens {
		have[strings.TrimSuffix(filepath.Base(g), ".jsonl")] = true
	}
	var out []Case
	var errs []error
	for _, tp := range traces {
		name := strings.TrimSuffix(filepath.Base(tp), ".jsonl")
		g := filepath.Join(dir, "golden", name+".jsonl")
		if !have[name] && !update {
			errs = append(errs, fmt.Errorf("%s has no golden file %s (run the family's tests with -update, then review it)", tp, g))
			continue
		}
		delete(have, name)
		out = append(out, Case{Name: name, Trace: tp, Golden: g})
	}
	for _, name := range sortedKeys(have) {
		errs = append(errs, fmt.Errorf("%s has no trace %s (renamed?)",
			filepath.Join(dir, "golden", name+".jsonl"), filepath.Join(dir, "traces", name+".jsonl")))
	}
	return out, errors.Join(errs...)
}

// Options adjust a run.
type Options struct {
	// Update rewrites the golden files from what the driver reported.
	Update bool
	// Pace is how traces whose header declares no pace are replayed; nil:
	// as fast as ordering allows.
	Pace *trace.Pace
	// Check, if set, runs inside each trace's subtest after the golden
	// comparison (not on update): checks every trace of the family shares.
	Check func(t *testing.T, c Case, out *drivertest.Output)
}

// Results are what the driver reported for each trace.
type Results struct {
	outs map[string]*drivertest.Output
}

// Get is the output of the named trace. A name that is not a trace fails
// the test: a renamed trace cannot skip the assertions written for it.
func (r Results) Get(t testing.TB, name string) *drivertest.Output {
	t.Helper()
	o, ok := r.outs[name]
	if !ok {
		t.Fatalf("no trace %q among %v", name, sortedKeys(r.outs))
	}
	return o
}

// Names are the traces that ran, sorted.
func (r Results) Names() []string { return sortedKeys(r.outs) }

// parallel bounds the replays in flight: they mostly wait on recorded
// pauses and on the pty, not on the CPU.
const parallel = 8

// Run replays every trace under dir/traces into drv, through the transport
// its header names (serial through a pty, usb through the HID seam), and
// compares the readings with its golden file (or writes it, on update);
// every reading must also validate against its payload schema. Each trace
// is a subtest of "golden".
func Run(t *testing.T, dir string, drv device.Driver, o Options) Results {
	t.Helper()
	cases, err := Cases(dir, o.Update)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatalf("no traces under %s", filepath.Join(dir, "traces"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	type result struct {
		out *drivertest.Output
		err error
	}
	results := make([]chan result, len(cases))
	slots := make(chan struct{}, parallel)
	for i, c := range cases {
		results[i] = make(chan result, 1)
		go func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			out, err := replay(ctx, drv, c, o.Pace)
			results[i] <- result{out, err}
		}()
	}
	res := Results{outs: map[string]*drivertest.Output{}}
	t.Run("golden", func(t *testing.T) {
		for i, c := range cases {
			r := <-results[i]
			if r.out == nil {
				r.out = drivertest.NewOutput()
			}
			res.outs[c.Name] = r.out
			t.Run(c.Name, func(t *testing.T) {
				if r.err != nil {
					t.Fatalf("%s: %v", c.Trace, r.err)
				}
				if o.Update {
					if err := harness.WriteGolden(r.out.Readings(), c.Golden); err != nil {
						t.Fatal(err)
					}
					t.Logf("wrote %s: review it", c.Golden)
					return
				}
				diff, err := harness.CompareGolden(r.out.Readings(), c.Golden)
				if err != nil {
					t.Fatal(err)
				}
				if diff != "" {
					t.Errorf("%s replays differently from %s:\n%s", c.Trace, c.Golden, diff)
				}
				drivertest.Validate(t, r.out.Readings())
				if o.Check != nil {
					o.Check(t, c, r.out)
				}
			})
		}
	})
	return res
}

func replay(ctx context.Context, drv device.Driver, c Case, fallback *trace.Pace) (*drivertest.Output, error) {
	tr, err := trace.ReadFile(c.Trace)
	if err != nil {
		return nil, err
	}
	if tr.Header.Driver != "" && tr.Header.Driver != drv.Name {
		return nil, fmt.Errorf("header names driver %q, the test runs %q", tr.Header.Driver, drv.Name)
	}
	pace, declared := harness.PaceOf(tr)
	if !declared && fallback != nil {
		pace = *fallback
	}
	return harness.Replay(ctx, drv, tr, pace)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
