// Package harness runs real driver code against recorded traces and
// collects what it reports, for hwtest decode, golden tests and rigs.
package harness

import (
	"sync"

	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/reading"
)

// Collector is a device.Output that keeps everything a device reports.
type Collector struct {
	mu       sync.Mutex
	readings []reading.Reading
	counts   map[string]int
	ups      int
	downs    []device.Reason
	notify   chan struct{}
	// OnEmit, if set, sees each reading as it arrives (decode streams them).
	OnEmit func(reading.Reading)
}

// NewCollector returns an empty collector.
func NewCollector() *Collector {
	return &Collector{counts: map[string]int{}, notify: make(chan struct{}, 1)}
}

func (c *Collector) Emit(r reading.Reading) error {
	c.mu.Lock()
	r.Seq = uint64(len(c.readings) + 1)
	c.readings = append(c.readings, r)
	f := c.OnEmit
	c.mu.Unlock()
	if f != nil {
		f(r)
	}
	c.poke()
	return nil
}

func (c *Collector) Up() {
	c.mu.Lock()
	c.ups++
	c.mu.Unlock()
	c.poke()
}

func (c *Collector) Down(r device.Reason, _ string) {
	c.mu.Lock()
	c.downs = append(c.downs, r)
	c.mu.Unlock()
	c.poke()
}

func (c *Collector) Count(what string, n int) {
	c.mu.Lock()
	c.counts[what] += n
	c.mu.Unlock()
	c.poke()
}

func (c *Collector) poke() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// Changed is signalled (coalesced) whenever the collector changes: tests
// wait on it instead of sleeping.
func (c *Collector) Changed() <-chan struct{} { return c.notify }

// Readings returns a copy of the readings so far.
func (c *Collector) Readings() []reading.Reading {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]reading.Reading(nil), c.readings...)
}

// Counts returns a copy of the discard counters.
func (c *Collector) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int, len(c.counts))
	for k, v := range c.counts {
		m[k] = v
	}
	return m
}

// Downs are the reasons the device reported itself unusable, in order.
func (c *Collector) Downs() []device.Reason {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]device.Reason(nil), c.downs...)
}

// Ups is how many times the device reported itself open.
func (c *Collector) Ups() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ups
}
