// Package gpiolinetest is fake GPIO lines for tests: periph.io gpiotest
// pins by name, which also record every level driven onto them so a test
// waits for an edge instead of sleeping. It lives apart from gpioline so
// that edged, which opens real lines, links neither gpiotest nor its clock.
package gpiolinetest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// Lines is a set of fake GPIO lines by name, for tests and replays on
// machines without GPIO chips. Its Open is a gpioline.Opener.
type Lines struct {
	mu   sync.Mutex
	pins map[string]*Pin
}

// New makes fake lines with the given names, all low.
func New(names ...string) *Lines {
	f := &Lines{pins: map[string]*Pin{}}
	for i, n := range names {
		f.pins[n] = newPin(n, i)
	}
	return f
}

// Open returns the named fake line; an unknown name is an error, as on a box.
func (f *Lines) Open(name string) (gpio.PinIO, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pins[name]
	if !ok {
		return nil, fmt.Errorf("gpio: no line named %q (fake)", name)
	}
	return p, nil
}

// Pin returns the named fake line, or nil.
func (f *Lines) Pin(name string) *Pin {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pins[name]
}

// Change is one level a program drove onto a fake line, and when.
type Change struct {
	Level gpio.Level
	At    time.Time
}

// Pin is a gpiotest.Pin that also records every Out call, so a test
// can wait for an output edge instead of sleeping. Inputs are driven with
// Edge, which hands the level to a waiting WaitForEdge.
type Pin struct {
	*gpiotest.Pin

	mu      sync.Mutex
	outs    []Change
	changed chan struct{} // closed and replaced on each Out
}

func newPin(name string, num int) *Pin {
	return &Pin{
		Pin: &gpiotest.Pin{
			N: name, Num: num,
			// Set up front: gpiotest fills in a nil Clock lazily, which
			// races with other goroutines reading the pin.
			Clock: clockwork.NewRealClock(),
			// Unbuffered, so Edge returns only once the driver has seen it.
			EdgesChan: make(chan gpio.Level),
		},
		changed: make(chan struct{}),
	}
}

// Out records the level and sets it.
func (p *Pin) Out(l gpio.Level) error {
	err := p.Pin.Out(l)
	p.mu.Lock()
	p.outs = append(p.outs, Change{Level: l, At: time.Now()})
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	return err
}

// Outs returns every level driven so far, in order.
func (p *Pin) Outs() []Change {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Change(nil), p.outs...)
}

// WaitOuts blocks until at least n levels have been driven, or ctx ends.
func (p *Pin) WaitOuts(ctx context.Context, n int) ([]Change, error) {
	for {
		p.mu.Lock()
		if len(p.outs) >= n {
			out := append([]Change(nil), p.outs...)
			p.mu.Unlock()
			return out, nil
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return p.Outs(), fmt.Errorf("pin %s: %d of %d levels driven: %w", p.N, len(p.Outs()), n, ctx.Err())
		}
	}
}

// Edge delivers an input edge to the level l: it blocks until the program
// waiting in WaitForEdge takes it (or ctx ends).
func (p *Pin) Edge(ctx context.Context, l gpio.Level) error {
	select {
	case p.EdgesChan <- l:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Level is the line's current level.
func (p *Pin) Level() gpio.Level { return p.Pin.Read() }
