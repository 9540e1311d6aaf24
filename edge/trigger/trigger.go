// Package trigger is the box's local reaction to readings: rules that fire
// an actuator (a CCTV alarm output) the moment a matching reading is taken,
// with or without the hub. Remote commands reach the same actuators.
//
// The edge hands every reading to Engine.Take right after the outbox has
// it. An actuator device (drivers/cctv) attaches itself, with its rules,
// through its device.Output while it runs (see Attacher).
//
// Rules are a small list of equalities rather than CEL: the box must decide
// in microseconds on every reading, and an installer writes them in the
// device's options next to the line they drive.
package trigger

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/reading"
)

// Match is one rule as written in a box config:
//
//	on:
//	  - name: bad-document
//	    kind: document
//	    payload: {valid: false}
//
// Every condition given must hold; at least one must be given.
type Match struct {
	Name    string         `yaml:"name"`    // shown as the cause; default "rule N"
	Device  string         `yaml:"device"`  // device id on this box
	Kind    string         `yaml:"kind"`    // payload kind
	Quality string         `yaml:"quality"` // ok | suspect | bad
	Payload map[string]any `yaml:"payload"` // field (dotted path for nested objects) equals value
}

// Rule is a compiled Match.
type Rule struct {
	Name    string
	device  string
	kind    string
	quality reading.Status
	fields  []field
}

type field struct {
	path []string
	want any // string, float64 or bool
}

// Compile checks rules; errors name the rule by its position.
func Compile(ms []Match) ([]Rule, error) {
	out := make([]Rule, 0, len(ms))
	names := map[string]bool{}
	for i, m := range ms {
		r := Rule{Name: m.Name, device: m.Device, kind: m.Kind, quality: reading.Status(m.Quality)}
		if r.Name == "" {
			r.Name = fmt.Sprintf("rule %d", i+1)
		}
		if names[r.Name] {
			return nil, fmt.Errorf("on[%d]: name %q repeated", i, r.Name)
		}
		names[r.Name] = true
		switch r.quality {
		case "", reading.OK, reading.Suspect, reading.Bad:
		default:
			return nil, fmt.Errorf("on[%d]: quality must be ok, suspect or bad (got %q)", i, m.Quality)
		}
		keys := make([]string, 0, len(m.Payload))
		for k := range m.Payload {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			want, err := scalar(m.Payload[k])
			if err != nil {
				return nil, fmt.Errorf("on[%d]: payload.%s: %v", i, k, err)
			}
			if k == "" || slices.Contains(strings.Split(k, "."), "") {
				return nil, fmt.Errorf("on[%d]: payload: empty field name in %q", i, k)
			}
			r.fields = append(r.fields, field{path: strings.Split(k, "."), want: want})
		}
		if r.device == "" && r.kind == "" && r.quality == "" && len(r.fields) == 0 {
			return nil, fmt.Errorf("on[%d]: matches every reading: give device, kind, quality or payload", i)
		}
		out = append(out, r)
	}
	return out, nil
}

// scalar normalises a YAML value to what JSON decoding yields.
func scalar(v any) (any, error) {
	switch x := v.(type) {
	case string, bool:
		return x, nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case float64:
		return x, nil
	case nil:
		return nil, fmt.Errorf("a value is needed (string, number or boolean)")
	}
	return nil, fmt.Errorf("only strings, numbers and booleans can be compared (got %T)", v)
}

// matchHead checks the conditions that need no payload decoding.
func (r *Rule) matchHead(rd *reading.Reading) bool {
	return (r.device == "" || r.device == rd.Device) &&
		(r.kind == "" || r.kind == rd.Kind()) &&
		(r.quality == "" || r.quality == rd.Quality.Status)
}

func (r *Rule) matchFields(p map[string]any) bool {
	for _, f := range r.fields {
		var v any = p
		for _, k := range f.path {
			m, ok := v.(map[string]any)
			if !ok {
				return false
			}
			if v, ok = m[k]; !ok {
				return false
			}
		}
		if v != f.want {
			return false
		}
	}
	return true
}

// Request asks an actuator to act.
type Request struct {
	Action  string               // "activate" (default) or "release"
	Cause   string               // "rule:<name>" or "command:<id>"
	Reading *contract.ReadingRef // the reading that fired a rule
	At      time.Time            // when the request was made (latency is measured from here)
}

// Result says what an actuator did.
type Result struct {
	Action string // activated | folded | deferred | released | idle
	Detail string
}

// Actuator is something the box can trigger: a CCTV alarm output.
type Actuator interface {
	Fire(Request) (Result, error)
}

// Attacher is implemented by the edge's device.Output: an actuator device
// attaches itself and its rules for as long as it runs.
type Attacher interface {
	AttachActuator(a Actuator, rules []Rule) (detach func())
}

// Engine routes readings to the attached actuators whose rules match. The
// zero Engine is ready to use and safe for concurrent use.
type Engine struct {
	mu   sync.RWMutex
	acts map[string]*entry // by device id
	// attached is closed and replaced on every Attach (WaitAttached).
	attached chan struct{}

	// OnFire, when set, sees every rule firing (for logs and counters).
	OnFire func(device string, req Request, res Result, err error)
}

type entry struct {
	a     Actuator
	rules []Rule
}

// Attach registers an actuator under its device id; detach removes it
// (and only it: a newer attachment under the same id stays).
func (e *Engine) Attach(device string, a Actuator, rules []Rule) (detach func()) {
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
func (e *Engine) Fire(device string, req Request) (Result, error) {
	e.mu.RLock()
	en := e.acts[device]
	e.mu.RUnlock()
	if en == nil {
		return Result{}, fmt.Errorf("no actuator %q running on this box", device)
	}
	if req.At.IsZero() {
		req.At = time.Now()
	}
	return en.a.Fire(req)
}

// Take runs the rules on a reading the box has just taken and fires every
// actuator with a matching rule (the first matching rule names the cause).
// An actuator's own readings never fire it.
func (e *Engine) Take(r reading.Reading) {
	at := time.Now()
	e.mu.RLock()
	if len(e.acts) == 0 {
		e.mu.RUnlock()
		return
	}
	type hit struct {
		dev  string
		a    Actuator
		rule string
	}
	var hits []hit
	var payload map[string]any
	decoded := false
	for dev, en := range e.acts {
		if dev == r.Device {
			continue
		}
		for i := range en.rules {
			rule := &en.rules[i]
			if !rule.matchHead(&r) {
				continue
			}
			if len(rule.fields) > 0 {
				if !decoded {
					payload, decoded = decodePayload(r.Payload), true
				}
				if payload == nil || !rule.matchFields(payload) {
					continue
				}
			}
			hits = append(hits, hit{dev, en.a, rule.Name})
			break
		}
	}
	e.mu.RUnlock()
	for _, h := range hits {
		req := Request{Action: "activate", Cause: "rule:" + h.rule, At: at,
			Reading: &contract.ReadingRef{Box: r.Box, Device: r.Device, Seq: r.Seq}}
		res, err := h.a.Fire(req)
		if e.OnFire != nil {
			e.OnFire(h.dev, req, res, err)
		}
	}
}

// decodePayload gives the payload as JSON would: rules compare what the
// hub would see, whatever Go type the driver used.
func decodePayload(p reading.Payload) map[string]any {
	if p == nil {
		return nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}
