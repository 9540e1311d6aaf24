// Package linetest holds the test plumbing the line drivers
// share: golden traces through a pseudo-terminal, an Output that can be
// waited on for availability changes, and options from YAML.
package linetest

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/drivers"
	"github.com/kordon/kordon/hwtest/harness"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/schema"
)

// Golden replays every testdata/traces/*.jsonl with a golden file through
// a pty into drv's real serial path and compares the readings (update
// rewrites the golden files). It returns each case's collector by name.
func Golden(t *testing.T, drv device.Driver, update bool) map[string]*harness.Collector {
	t.Helper()
	cases, err := harness.Cases("testdata", update)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no golden cases found")
	}
	var mu sync.Mutex
	out := map[string]*harness.Collector{}
	t.Run("golden", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.Name, func(t *testing.T) {
				t.Parallel()
				tr, err := trace.ReadFile(c.Trace)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				// As fast as ordering allows, unless the trace says its
				// pauses matter (a torn line, noise ended by a pause).
				pace, _ := harness.PaceOf(tr)
				col, err := harness.Replay(ctx, drv, tr, pace)
				if err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				out[c.Name] = col
				mu.Unlock()
				if update {
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
	})
	return out
}

// Config builds a device config with options from YAML source.
func Config(t testing.TB, src string) device.Config {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	var n *yaml.Node
	if len(doc.Content) > 0 {
		n = doc.Content[0]
	}
	return device.Config{ID: "dev", Options: device.Options{File: "test.yaml", Node: n}, Clock: time.Now}
}

// Output is a device.Output that records everything and signals each
// event on a channel, so tests wait for events instead of sleeping.
type Output struct {
	mu       sync.Mutex
	Readings []reading.Reading
	Counts   map[string]int
	Events   []string // "up", "down:<reason>", "emit", "count:<what>" in order
	changed  chan struct{}
}

// NewOutput returns an empty Output.
func NewOutput() *Output {
	return &Output{Counts: map[string]int{}, changed: make(chan struct{}, 1)}
}

func (o *Output) add(ev string, f func()) {
	o.mu.Lock()
	if f != nil {
		f()
	}
	o.Events = append(o.Events, ev)
	o.mu.Unlock()
	select {
	case o.changed <- struct{}{}:
	default:
	}
}

func (o *Output) Emit(r reading.Reading) error {
	o.add("emit", func() { o.Readings = append(o.Readings, r) })
	return nil
}
func (o *Output) Up()                            { o.add("up", nil) }
func (o *Output) Down(r device.Reason, _ string) { o.add("down:"+string(r), nil) }
func (o *Output) Count(what string, n int)       { o.add("count:"+what, func() { o.Counts[what] += n }) }

// Wait blocks until ok holds for the recorded state (checked on each event).
func (o *Output) Wait(t testing.TB, within time.Duration, what string, ok func(o *Output) bool) {
	t.Helper()
	timeout := time.After(within)
	for {
		o.mu.Lock()
		done := ok(o)
		o.mu.Unlock()
		if done {
			return
		}
		select {
		case <-o.changed:
		case <-timeout:
			t.Fatalf("%s: not within %v (events %v)", what, within, o.snapshot())
		}
	}
}

func (o *Output) snapshot() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.Events...)
}

// Has says whether ev occurs in Events (call inside Wait's ok).
func (o *Output) Has(ev string) bool {
	for _, e := range o.Events {
		if e == ev {
			return true
		}
	}
	return false
}

// Validate checks each reading, as edged would publish it, against the
// envelope schema and its kind's payload schema (drivers/<family>/<kind>.schema.json).
func Validate(t testing.TB, rs []reading.Reading) {
	t.Helper()
	v, err := schema.New(drivers.PayloadSchemas())
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		r.Crossing, r.Box, r.Device, r.Driver, r.Seq = "kz-test", "booth-01", "dev1", "test", uint64(i+1)
		if r.Origin.IsZero() {
			r.Origin = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("reading %d: %v", i+1, err)
		}
		if err := v.Validate(b); err != nil {
			t.Errorf("reading %d does not validate: %v\n%s", i+1, err, b)
		}
	}
}
