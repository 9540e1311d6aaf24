// Package drivertest is the kit for running a driver outside a box: the
// one fake device.Output (it keeps everything a device reports and can be
// waited on), the one place a device.Config is built by hand, and a check
// of readings against their payload schemas.
//
// Driver tests, hwtest's replays and its decode command use it alike, so
// a change to the driver contract is made here once.
package drivertest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/drivers"
	"github.com/kordon/kordon/internal/actuator"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/schema"
	"github.com/kordon/kordon/internal/transport"
	"github.com/kordon/kordon/internal/usbhid"
)

// Seam hands a device one of the things a box would: a port, a clock, an
// id. Each is set on the config in one place, below.
type Seam func(*device.Config)

// ID names the device (default "dev").
func ID(id string) Seam { return func(c *device.Config) { c.ID = id } }

// Transport is the device's transport section. A serial or tcp transport
// without a Stream seam is opened for real (device.StreamOf).
func Transport(tc transport.Config) Seam { return func(c *device.Config) { c.Transport = tc } }

// Stream opens the device's byte stream (a pseudo-terminal, standard
// input) instead of its transport.
func Stream(open device.StreamOpener) Seam { return func(c *device.Config) { c.Stream = open } }

// HID opens the device's USB HID device.
func HID(open usbhid.Opener) Seam { return func(c *device.Config) { c.HID = open } }

// Pins opens the device's GPIO lines by name.
func Pins(open device.PinOpener) Seam { return func(c *device.Config) { c.Pin = open } }

// Clock is the box clock the device reads times from (default time.Now).
func Clock(now func() time.Time) Seam { return func(c *device.Config) { c.Clock = now } }

// Actuation is the seam a device that acts attaches itself through.
func Actuation(a actuator.Attacher) Seam { return func(c *device.Config) { c.Actuation = a } }

// StateDir is the device's own folder on the box's disk.
func StateDir(dir string) Seam { return func(c *device.Config) { c.StateDir = dir } }

// NewConfig is a device config with these options and seams. It has a
// clock, and a serial or tcp transport without a Stream seam is opened
// for real, so with a Transport seam naming the driver's port kind and
// that kind's opener it is what device.Driver.Build asks for.
func NewConfig(opts device.Options, seams ...Seam) device.Config {
	c := device.Config{ID: "dev", Options: opts, Clock: time.Now}
	for _, s := range seams {
		s(&c)
	}
	if k, err := device.PortOf(c.Transport.Type); err == nil && k == device.Stream && c.Stream == nil {
		c.Stream = device.StreamOf(c.Transport)
	}
	return c
}

// Config is a device config whose options are the YAML src ("" for none),
// as if written in box.yaml.
func Config(t testing.TB, src string, seams ...Seam) device.Config {
	t.Helper()
	return NewConfig(Options(t, src), seams...)
}

// Options parses YAML src as a device's options block in box.yaml.
func Options(t testing.TB, src string) device.Options {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	var n *yaml.Node
	if len(doc.Content) > 0 {
		n = doc.Content[0]
	}
	return device.Options{File: "box.yaml", Node: n}
}

// Output is a device.Output that keeps everything a device reports, in
// order, and signals each event, so tests wait for events instead of
// sleeping.
type Output struct {
	mu       sync.Mutex
	readings []reading.Reading
	counts   map[string]int
	ups      int
	downs    []device.Reason
	events   []string      // "up", "down:<reason>", "emit", "lost:<reason>", "count:<what>"
	changed  chan struct{} // closed and replaced on each event
	// OnEmit, if set before the device runs, sees each reading as it
	// arrives (hwtest decode streams them).
	OnEmit func(reading.Reading)
	// Lose, if set before the device runs, may refuse a reading as the box
	// does when it cannot keep one: Emit then keeps nothing and returns it.
	Lose func(reading.Reading) *device.Lost
}

var _ device.Output = (*Output)(nil)

// NewOutput returns an empty Output.
func NewOutput() *Output {
	return &Output{counts: map[string]int{}, changed: make(chan struct{})}
}

func (o *Output) add(ev string, f func()) {
	o.mu.Lock()
	f()
	o.events = append(o.events, ev)
	close(o.changed)
	o.changed = make(chan struct{})
	o.mu.Unlock()
}

// Emit keeps the reading, numbered from 1 as the outbox would, and
// returns nil, unless Lose refuses it.
func (o *Output) Emit(r reading.Reading) error {
	if o.Lose != nil {
		if lost := o.Lose(r); lost != nil {
			o.add("lost:"+lost.Reason, func() {})
			return lost
		}
	}
	o.add("emit", func() {
		r.Seq = uint64(len(o.readings) + 1)
		o.readings = append(o.readings, r)
	})
	if o.OnEmit != nil {
		o.OnEmit(r)
	}
	return nil
}

func (o *Output) Up() { o.add("up", func() { o.ups++ }) }

func (o *Output) Down(r device.Reason, _ string) {
	o.add("down:"+string(r), func() { o.downs = append(o.downs, r) })
}

func (o *Output) Count(what string, n int) {
	o.add("count:"+what, func() { o.counts[what] += n })
}

// Changed is closed at the next event.
func (o *Output) Changed() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.changed
}

// Readings returns a copy of the readings so far.
func (o *Output) Readings() []reading.Reading {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]reading.Reading(nil), o.readings...)
}

// NumReadings is how many readings have been emitted (without a copy).
func (o *Output) NumReadings() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.readings)
}

// Reset forgets everything reported so far, keeping the memory, so a
// benchmark can reuse one output.
func (o *Output) Reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.readings, o.events, o.downs, o.ups = o.readings[:0], o.events[:0], o.downs[:0], 0
	clear(o.counts)
}

// Counts returns a copy of the discard counters.
func (o *Output) Counts() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := make(map[string]int, len(o.counts))
	for k, v := range o.counts {
		m[k] = v
	}
	return m
}

// Downs are the reasons the device reported itself unusable, in order.
func (o *Output) Downs() []device.Reason {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]device.Reason(nil), o.downs...)
}

// Ups is how many times the device reported itself open.
func (o *Output) Ups() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ups
}

// Events are every event so far, in order: "up", "down:<reason>",
// "emit", "count:<what>".
func (o *Output) Events() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.events...)
}

// Has says whether ev has occurred.
func (o *Output) Has(ev string) bool {
	for _, e := range o.Events() {
		if e == ev {
			return true
		}
	}
	return false
}

// WaitUntil blocks until ok holds (checked at each event) or ctx ends.
func (o *Output) WaitUntil(ctx context.Context, ok func(o *Output) bool) error {
	for {
		changed := o.Changed()
		if ok(o) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Wait blocks until ok holds, failing the test after within.
func (o *Output) Wait(t testing.TB, within time.Duration, what string, ok func(o *Output) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := o.WaitUntil(ctx, ok); err != nil {
		t.Fatalf("%s: not within %v (events %v)", what, within, o.Events())
	}
}

// Validate checks each reading, as edged would publish it, against the
// envelope schema and its kind's payload schema
// (drivers/<family>/<kind>.schema.json).
func Validate(t testing.TB, rs []reading.Reading) {
	t.Helper()
	schemas := drivers.PayloadSchemas()
	v, err := schema.New(schemas)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if err := validate(v, r, i); err != nil {
			t.Error(err)
		}
		if err := personalDeclared(schemas, r, i); err != nil {
			t.Error(err)
		}
	}
}

// personalDeclared checks that every field the driver tags personal is
// marked x-personal in its kind's schema: the hub decides what is personal
// from the schema alone, so a field tagged only in the code would be
// stored, shown and shared as if it were not.
func personalDeclared(schemas map[string][]byte, r reading.Reading, i int) error {
	tagged := reading.PersonalPointers(r.Payload)
	if len(tagged) == 0 {
		return nil
	}
	declared, err := schema.PersonalPointers(schemas[r.Kind()])
	if err != nil {
		return fmt.Errorf("reading %d: %s.schema.json: %v", i+1, r.Kind(), err)
	}
	var missing []string
	for _, p := range tagged {
		if !coveredBy(p, declared) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("reading %d: %v tagged personal by the driver but not marked x-personal in %s.schema.json: the hub would not withhold them", i+1, missing, r.Kind())
	}
	return nil
}

// coveredBy says whether the value at p is withheld by one of ptrs: p
// itself, or a value it is part of.
func coveredBy(p string, ptrs []string) bool {
	for _, q := range ptrs {
		if p == q || strings.HasPrefix(p, q+"/") {
			return true
		}
	}
	return false
}

func validate(v *schema.Validator, r reading.Reading, i int) error {
	r.Crossing, r.Box, r.Device, r.Driver, r.Seq = "kz-test", "booth-01", "dev1", "test", uint64(i+1)
	if r.Origin.IsZero() {
		r.Origin = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("reading %d: %v", i+1, err)
	}
	if err := v.Validate(b); err != nil {
		return fmt.Errorf("reading %d does not validate: %v\n%s", i+1, err, b)
	}
	return nil
}
