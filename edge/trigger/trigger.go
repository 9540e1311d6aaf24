// Package trigger is the box's local reaction to readings: it fires an
// actuator (a CCTV alarm output) the moment a reading matching one of its
// rules is taken, with or without the hub. Remote commands reach the same
// actuators.
//
// The edge hands every reading to Engine.Take, encoded once, right after
// the outbox. An actuator device (drivers/cctv) attaches itself with its
// rules (CEL, compiled when the config was loaded: internal/actuator)
// through its device.Output while it runs.
package trigger

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/kordon/kordon/internal/actuator"
	"github.com/kordon/kordon/internal/contract"
)

// Engine routes readings to the attached actuators whose rules match. The
// zero Engine is ready to use and safe for concurrent use.
type Engine struct {
	mu   sync.RWMutex
	acts map[string]*entry // by device id
	// attached is closed and replaced on every Attach (WaitAttached).
	attached chan struct{}

	// OnFire, when set, sees every rule firing (for logs and counters).
	OnFire func(device string, req actuator.Request, res actuator.Result, err error)
}

type entry struct {
	a     actuator.Actuator
	rules []actuator.Rule
}

// Attach registers an actuator under its device id; detach removes it
// (and only it: a newer attachment under the same id stays).
func (e *Engine) Attach(device string, a actuator.Actuator, rules []actuator.Rule) (detach func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.acts == nil {
		e.acts = map[string]*entry{}
	}
	en := &entry{a: a, rules: rules}
	e.acts[device] = en
	if e.attached != nil {
		close(e.attached)
	}
	e.attached = make(chan struct{})
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.acts[device] == en {
			delete(e.acts, device)
		}
	}
}

// WaitAttached blocks until an actuator is attached under device, or ctx ends.
func (e *Engine) WaitAttached(ctx context.Context, device string) error {
	for {
		e.mu.Lock()
		_, ok := e.acts[device]
		if e.attached == nil {
			e.attached = make(chan struct{})
		}
		ch := e.attached
		e.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("actuator %q not attached: %w", device, ctx.Err())
		}
	}
}

// Devices lists the attached actuators.
func (e *Engine) Devices() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]string, 0, len(e.acts))
	for d := range e.acts {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// Fire asks one attached actuator to act (a command from the hub).
func (e *Engine) Fire(device string, req actuator.Request) (actuator.Result, error) {
	e.mu.RLock()
	en := e.acts[device]
	e.mu.RUnlock()
	if en == nil {
		return actuator.Result{}, fmt.Errorf("no actuator %q running on this box", device)
	}
	if req.At.IsZero() {
		req.At = time.Now()
	}
	return en.a.Fire(req)
}

// Take runs the rules on a reading the box has just taken and fires every actuator with a matching rule (the first
// matching rule names the cause). An actuator's own readings never fire it.
func (e *Engine) Take(in actuator.Input) {
	r := in.Reading
	at := time.Now()
	e.mu.RLock()
	if len(e.acts) == 0 {
		e.mu.RUnlock()
		return
	}
	type hit struct {
		dev  string
		a    actuator.Actuator
		rule string
	}
	var hits []hit
	vars := actuator.NewVars(in)
	for dev, en := range e.acts {
		if dev == r.Device {
			continue
		}
		for i := range en.rules {
			if rule := &en.rules[i]; rule.Holds(vars) {
				hits = append(hits, hit{dev, en.a, rule.Name})
				break
			}
		}
	}
	e.mu.RUnlock()
	for _, h := range hits {
		req := actuator.Request{Action: "activate", Cause: "rule:" + h.rule, At: at,
			Reading: &contract.ReadingRef{Box: r.Box, Device: r.Device, Seq: r.Seq}}
		res, err := h.a.Fire(req)
		if e.OnFire != nil {
			e.OnFire(h.dev, req, res, err)
		}
	}
}
