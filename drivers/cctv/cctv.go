// Package cctv drives a GPIO output wired to a DVR/NVR alarm input (a dry
// contact, through a relay or opto-isolator) so the recorder marks the
// moment of an alarm. The line is pulsed or latched; a minimum gap keeps a
// storm of triggers from holding the contact closed. Every change of the
// output is itself a reading (kind "cctv").
//
// The output is fired by local rules (its "on" option, CEL: internal/actuator) the
// moment a matching reading is taken on the box, hub or no hub, and by the
// hub's cctv-trigger command.
package cctv

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
	"periph.io/x/conn/v3/gpio"

	"github.com/kordon/kordon/internal/actuator"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/gpioline"
	"github.com/kordon/kordon/internal/reading"
)

// Driver registers the family (drivers/all).
func Driver() device.Driver {
	return device.Driver{
		Name:  "cctv",
		Kind:  "cctv",
		Doc:   "GPIO output to a DVR/NVR alarm input (relay/opto dry contact), pulsed or latched by local rules and hub commands",
		Ports: []device.PortKind{device.Pin},
		New:   New,
	}
}

// Options are the driver's settings in a box config (README.md).
type Options struct {
	Line   string        `yaml:"line"`    // GPIO line name (periph.io), e.g. GPIO17
	Active string        `yaml:"active"`  // level that closes the contact: high (default) | low
	Mode   string        `yaml:"mode"`    // pulse (default) | latch
	Pulse  time.Duration `yaml:"pulse"`   // pulse length, default 1s
	MinGap time.Duration `yaml:"min_gap"` // contact open at least this long between activations, default 2s
	Input  string        `yaml:"input"`   // what it is wired to, for the evidence: "NVR-1 alarm in 3"
	On     []yaml.Node   `yaml:"on"`      // local rules (actuator.Spec, CEL), decoded strictly below
}

// Payload is the state of the output after a change.
type Payload struct {
	Line   string `json:"line"`
	Input  string `json:"input,omitempty"`
	Mode   string `json:"mode"`
	Active bool   `json:"active"` // contact closed: the recorder's alarm input is asserted
	Level  int    `json:"level"`  // the GPIO level driven, 0 or 1
	// Cause is why it changed: rule:<name>, command:<id>, pulse-end,
	// start (the line was set open when the device started) or stop.
	Cause   string               `json:"cause"`
	Trigger *contract.ReadingRef `json:"trigger,omitempty"` // the reading that fired the rule
	Folded  int                  `json:"folded,omitempty"`  // further triggers folded into this activation (on release)
	// LatencyUS is the time from the trigger (rule match or command) to the edge.
	LatencyUS int64 `json:"latency_us,omitempty"`
}

func (Payload) Kind() string { return "cctv" }

type config struct {
	opts   Options
	on     gpio.Level
	off    gpio.Level
	rules  []actuator.Rule
	device device.Config
}

// New validates the options of one output.
func New(cfg device.Config) (device.Device, error) {
	o := Options{Active: "high", Mode: "pulse", Pulse: time.Second, MinGap: 2 * time.Second}
	if err := cfg.Options.Decode(&o); err != nil {
		return nil, err
	}
	bad := func(field, f string, a ...any) error {
		return cfg.Options.Errorf(field, f, a...)
	}
	if o.Line == "" {
		return nil, bad("line", "missing: the GPIO line name, e.g. GPIO17")
	}
	on, err := gpioline.ParseLevel(o.Active)
	if err != nil {
		return nil, bad("active", "%v", err)
	}
	switch o.Mode {
	case "pulse", "latch":
	default:
		return nil, bad("mode", "must be pulse or latch (got %q)", o.Mode)
	}
	if o.Pulse < time.Millisecond || o.Pulse > time.Minute {
		return nil, bad("pulse", "must be between 1ms and 1m (got %v)", o.Pulse)
	}
	if o.MinGap < 0 || o.MinGap > 10*time.Minute {
		return nil, bad("min_gap", "must be between 0 and 10m (got %v)", o.MinGap)
	}
	rules, err := compileRules(cfg.Options, o.On)
	if err != nil {
		return nil, err
	}
	return &config{opts: o, on: on, off: !on, rules: rules, device: cfg}, nil
}

// Run drives the line until ctx ends. The line is left open (inactive) on
// the way out: a stopping box must not hold a recorder input closed.
func (c *config) Run(ctx context.Context, out device.Output) error {
	pin, err := c.device.Pin(c.opts.Line)
	if err != nil {
		return &device.Fault{Reason: device.Unplugged, Err: err}
	}
	l := &line{cfg: c, pin: pin, now: c.device.Clock, wake: make(chan struct{}, 1)}
	// Attached and set to rest under the line's lock: a trigger arriving
	// meanwhile waits for the rest level instead of being overwritten by it,
	// and once the rest level shows, the rules are live.
	l.mu.Lock()
	if a := c.device.Actuation; a != nil {
		defer a.AttachActuator(l, c.rules)()
	} else if len(c.rules) > 0 {
		out.Count("rules_without_engine", 1)
	}
	if err := pin.Out(c.off); err != nil {
		l.stopped = true
		l.mu.Unlock()
		return &device.Fault{Reason: device.Unplugged, Err: fmt.Errorf("gpio %s: %w", c.opts.Line, err)}
	}
	l.push(l.now(), Payload{Cause: "start"}, 0)
	l.mu.Unlock()
	l.flush(out)
	out.Up()
	defer func() {
		l.stop()
		l.flush(out)
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-l.wake:
			l.flush(out)
			if err := l.err(); err != nil {
				return &device.Fault{Reason: device.Errors, Err: err}
			}
		}
	}
}

// line is one running output. Fire may be called from any goroutine (the
// reading path of another device, a command); readings about the changes
// are queued and emitted from Run's goroutine, so firing never waits on
// the outbox.
type line struct {
	cfg  *config
	pin  gpio.PinIO
	now  func() time.Time
	wake chan struct{}

	mu       sync.Mutex
	active   bool
	gen      uint64 // activation number: a stale pulse-end timer does nothing
	gapUntil time.Time
	pending  *actuator.Request // arrived during the gap; fires when it ends
	folded   int
	timer    *time.Timer
	failed   error
	stopped  bool
	queue    []queued
}

type queued struct {
	at time.Time
	p  Payload
}

// Fire implements actuator.Actuator.
func (l *line) Fire(req actuator.Request) (actuator.Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return actuator.Result{}, errors.New("output stopped")
	}
	if l.failed != nil {
		return actuator.Result{}, l.failed
	}
	if req.At.IsZero() {
		req.At = time.Now()
	}
	switch req.Action {
	case "release":
		if !l.active {
			return actuator.Result{Action: "idle", Detail: "contact already open"}, nil
		}
		if err := l.release(req.Cause); err != nil {
			return actuator.Result{}, err
		}
		return actuator.Result{Action: "released"}, nil
	case "", "activate":
	default:
		return actuator.Result{}, fmt.Errorf("unknown action %q (activate, release)", req.Action)
	}
	if l.active {
		l.folded++
		return actuator.Result{Action: "folded", Detail: "contact already closed"}, nil
	}
	if wait := l.gapUntil.Sub(time.Now()); wait > 0 {
		if l.pending != nil {
			l.folded++
			return actuator.Result{Action: "folded", Detail: "an activation is already waiting for the minimum gap"}, nil
		}
		r := req
		l.pending = &r
		l.schedule(wait, l.firePending)
		return actuator.Result{Action: "deferred", Detail: fmt.Sprintf("minimum gap: activates in %v", wait.Round(time.Millisecond))}, nil
	}
	if err := l.activate(req); err != nil {
		return actuator.Result{}, err
	}
	return actuator.Result{Action: "activated"}, nil
}

// activate closes the contact. Called with l.mu held.
func (l *line) activate(req actuator.Request) error {
	if err := l.pin.Out(l.cfg.on); err != nil {
		return l.fail(err)
	}
	edge := time.Now()
	l.active = true
	l.gen++
	l.push(l.now(), Payload{Cause: req.Cause, Trigger: req.Reading}, edge.Sub(req.At))
	if l.cfg.opts.Mode == "pulse" {
		gen := l.gen
		l.schedule(l.cfg.opts.Pulse, func() { l.endPulse(gen) })
	}
	return nil
}

// release opens the contact and starts the minimum gap. Called with l.mu held.
func (l *line) release(cause string) error {
	if err := l.pin.Out(l.cfg.off); err != nil {
		return l.fail(err)
	}
	l.active = false
	l.gapUntil = time.Now().Add(l.cfg.opts.MinGap)
	l.push(l.now(), Payload{Cause: cause, Folded: l.folded}, 0)
	l.folded = 0
	if l.pending != nil {
		l.schedule(l.cfg.opts.MinGap, l.firePending)
	} else if l.timer != nil {
		l.timer.Stop()
	}
	return nil
}

func (l *line) endPulse(gen uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped || !l.active || l.gen != gen {
		return
	}
	l.release("pulse-end")
}

func (l *line) firePending() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped || l.pending == nil || l.active {
		return
	}
	if wait := l.gapUntil.Sub(time.Now()); wait > 0 {
		l.schedule(wait, l.firePending) // woken early: a release restarted the gap
		return
	}
	req := *l.pending
	l.pending = nil
	l.activate(req)
}

// schedule replaces the line's one timer. Called with l.mu held.
func (l *line) schedule(d time.Duration, f func()) {
	if l.timer != nil {
		l.timer.Stop()
	}
	l.timer = time.AfterFunc(d, f)
}

func (l *line) fail(err error) error {
	l.failed = fmt.Errorf("gpio %s: %w", l.cfg.opts.Line, err)
	l.signal()
	return l.failed
}

func (l *line) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

// stop releases a closed contact and refuses further triggers.
func (l *line) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		l.timer.Stop()
	}
	if l.active && l.failed == nil {
		l.release("stop")
	}
	l.pending = nil
	l.stopped = true
}

// push queues a state reading. Called with l.mu held.
func (l *line) push(at time.Time, p Payload, latency time.Duration) {
	p.Line, p.Input, p.Mode, p.Active = l.cfg.opts.Line, l.cfg.opts.Input, l.cfg.opts.Mode, l.active
	if l.active == (l.cfg.on == gpio.High) {
		p.Level = 1
	}
	if latency > 0 {
		p.LatencyUS = max(latency.Microseconds(), 1)
	}
	l.queue = append(l.queue, queued{at: at, p: p})
	l.signal()
}

func (l *line) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// flush emits the queued state readings, in order.
func (l *line) flush(out device.Output) {
	l.mu.Lock()
	q := l.queue
	l.queue = nil
	l.mu.Unlock()
	for _, e := range q {
		// Not kept: the box counted it. The line has changed whether or
		// not its record was kept, so there is nothing to undo.
		_ = out.Emit(reading.Reading{Origin: e.at, Payload: e.p, Quality: reading.Quality{Status: reading.OK}})
	}
}

// compileRules compiles the "on" rules; an error names the rule's own line
// and field (on[1].when).
func compileRules(opts device.Options, nodes []yaml.Node) ([]actuator.Rule, error) {
	if len(nodes) == 0 {
		return nil, nil
	}
	c, err := actuator.NewCompiler()
	if err != nil {
		return nil, err
	}
	rules := make([]actuator.Rule, 0, len(nodes))
	names := map[string]bool{}
	for i := range nodes {
		n := &nodes[i]
		at := fmt.Sprintf("on[%d]", i)
		var s actuator.Spec
		if err := opts.DecodeAt(n, at, &s); err != nil {
			return nil, err
		}
		if s.Name == "" {
			s.Name = fmt.Sprintf("rule %d", i+1)
		}
		if names[s.Name] {
			return nil, opts.ErrorAt(valueNode(n, "name"), at+".name", "%q repeated", s.Name)
		}
		names[s.Name] = true
		r, err := c.Compile(s)
		var fe *actuator.FieldError
		if errors.As(err, &fe) {
			return nil, opts.ErrorAt(valueNode(n, fe.Field), at+"."+fe.Field, "%s", fe.Msg)
		} else if err != nil {
			return nil, opts.ErrorAt(n, at, "%v", err)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// valueNode is the node of an option's value, so an error names its line;
// the rule's own mapping when the option is not written.
func valueNode(n *yaml.Node, key string) *yaml.Node {
	if v := device.Child(n, key); v != nil {
		return v
	}
	return n
}
