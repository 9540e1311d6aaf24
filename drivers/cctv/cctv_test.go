package cctv

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/internal/actuator"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/gpioline/gpiolinetest"
	"github.com/kordon/kordon/internal/reading"
)

// engineOut is a drivertest.Output that also takes the actuator and its
// rules (device.Config.Actuation), as the edge does, and fires it as the edge's trigger
// engine would (first matching rule names the cause; its own readings
// never fire it).
type engineOut struct {
	*drivertest.Output
	id string

	mu       sync.Mutex
	a        actuator.Actuator
	rules    []actuator.Rule
	attached chan struct{}
}

func (o *engineOut) AttachActuator(a actuator.Actuator, rules []actuator.Rule) func() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.a, o.rules = a, rules
	close(o.attached)
	return func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.a = nil
	}
}

// Fire is a command reaching the attached output.
func (o *engineOut) Fire(_ string, req actuator.Request) (actuator.Result, error) {
	o.mu.Lock()
	a := o.a
	o.mu.Unlock()
	if a == nil {
		return actuator.Result{}, errors.New("not attached")
	}
	if req.At.IsZero() {
		req.At = time.Now()
	}
	return a.Fire(req)
}

// Take hands the output's rules a reading taken on the box.
func (o *engineOut) Take(r reading.Reading) {
	at := time.Now()
	o.mu.Lock()
	a, rules := o.a, o.rules
	o.mu.Unlock()
	if a == nil || r.Device == o.id {
		return
	}
	env, _ := r.MarshalJSON()
	v := actuator.NewVars(actuator.Input{Reading: &r, Envelope: env})
	for i := range rules {
		if rules[i].Holds(v) {
			a.Fire(actuator.Request{Action: "activate", Cause: "rule:" + rules[i].Name, At: at,
				Reading: &contract.ReadingRef{Box: r.Box, Device: r.Device, Seq: r.Seq}})
			return
		}
	}
}

type rig struct {
	pin *gpiolinetest.Pin
	eng *engineOut
	ctx context.Context
}

// start runs a cctv output on fake line GPIO17 until the test ends, and
// returns once it is attached to the engine.
func start(t testing.TB, opts string) *rig {
	t.Helper()
	fake := gpiolinetest.New("GPIO17")
	r := &rig{pin: fake.Pin("GPIO17"), eng: &engineOut{Output: drivertest.NewOutput(), id: "cctv1", attached: make(chan struct{})}}
	d, err := New(drivertest.Config(t, opts, drivertest.ID("cctv1"), drivertest.Pins(fake.Open), drivertest.Actuation(r.eng)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tctx, tcancel := context.WithTimeout(context.Background(), 20*time.Second)
	r.ctx = tctx
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, r.eng) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		tcancel()
	})
	select {
	case <-r.eng.attached:
	case <-tctx.Done():
		t.Fatal("cctv1 not attached")
	}
	return r
}

func (r *rig) outs(t testing.TB, n int) []gpiolinetest.Change {
	t.Helper()
	c, err := r.pin.WaitOuts(r.ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (r *rig) readings(t testing.TB, n int) []Payload {
	t.Helper()
	for {
		changed := r.eng.Changed() // before the look: a reading in between still wakes it
		rs := r.eng.Readings()
		if len(rs) >= n {
			var ps []Payload
			for _, x := range rs {
				ps = append(ps, x.Payload.(Payload))
			}
			return ps
		}
		select {
		case <-changed:
		case <-r.ctx.Done():
			t.Fatalf("%d readings, want %d", len(rs), n)
		}
	}
}

func fire(t testing.TB, r *rig, req actuator.Request) actuator.Result {
	t.Helper()
	res, err := r.eng.Fire("cctv1", req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestPulseLengthAndPolarity: an active-low output rests high, goes low for
// at least the pulse length, and each change is a reading.
func TestPulseLengthAndPolarity(t *testing.T) {
	r := start(t, `{line: GPIO17, active: low, pulse: 30ms, min_gap: 0s, input: "NVR-1 alarm in 3"}`)
	if res := fire(t, r, actuator.Request{Cause: "command:c1"}); res.Action != "activated" {
		t.Fatalf("fire = %+v", res)
	}
	outs := r.outs(t, 3) // rest, active, release
	if outs[0].Level != gpio.High || outs[1].Level != gpio.Low || outs[2].Level != gpio.High {
		t.Fatalf("levels = %v, want high (rest), low (active), high", outs)
	}
	if w := outs[2].At.Sub(outs[1].At); w < 30*time.Millisecond {
		t.Errorf("pulse %v, want >= 30ms", w)
	}
	ps := r.readings(t, 3)
	want := []struct {
		active bool
		level  int
		cause  string
	}{{false, 1, "start"}, {true, 0, "command:c1"}, {false, 1, "pulse-end"}}
	for i, w := range want {
		if ps[i].Active != w.active || ps[i].Level != w.level || ps[i].Cause != w.cause || ps[i].Input != "NVR-1 alarm in 3" {
			t.Errorf("reading %d = %+v, want active=%v level=%d cause=%s", i, ps[i], w.active, w.level, w.cause)
		}
	}
	if ps[1].LatencyUS <= 0 {
		t.Errorf("activation latency not recorded: %+v", ps[1])
	}
}

// TestStormCannotHoldContactClosed: triggers during a pulse fold into it,
// a trigger during the gap waits for the gap's end, and the contact is
// open for at least min_gap between activations.
func TestStormCannotHoldContactClosed(t *testing.T) {
	r := start(t, `{line: GPIO17, pulse: 20ms, min_gap: 50ms}`)
	fire(t, r, actuator.Request{Cause: "rule:a"})
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ { // a storm while the contact is closed
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.eng.Fire("cctv1", actuator.Request{Cause: "rule:storm"})
		}()
	}
	wg.Wait()
	outs := r.outs(t, 3) // rest, active, released
	res := fire(t, r, actuator.Request{Cause: "rule:late"})
	if res.Action != "deferred" {
		t.Fatalf("trigger inside the gap = %+v, want deferred", res)
	}
	if res := fire(t, r, actuator.Request{Cause: "rule:later"}); res.Action != "folded" {
		t.Errorf("second trigger inside the gap = %+v, want folded", res)
	}
	outs = r.outs(t, 5)
	if outs[1].Level != gpio.High || outs[2].Level != gpio.Low || outs[3].Level != gpio.High || outs[4].Level != gpio.Low {
		t.Fatalf("levels %v", outs)
	}
	if gap := outs[3].At.Sub(outs[2].At); gap < 50*time.Millisecond {
		t.Errorf("contact open %v between activations, want >= min_gap 50ms", gap)
	}
	ps := r.readings(t, 5)
	if ps[2].Folded != 50 || ps[2].Cause != "pulse-end" {
		t.Errorf("release = %+v, want 50 folded triggers", ps[2])
	}
	if ps[3].Cause != "rule:late" || !ps[3].Active {
		t.Errorf("deferred activation = %+v", ps[3])
	}
	if ps[4].Folded != 1 {
		t.Errorf("second release = %+v, want the trigger during the gap folded", ps[4])
	}
	if n := len(r.pin.Outs()); n != 5 {
		t.Errorf("%d levels driven, want 5", n)
	}
}

// TestLatchHoldsUntilReleased: a latched output stays closed until a
// release, however many triggers come.
func TestLatchHoldsUntilReleased(t *testing.T) {
	r := start(t, `{line: GPIO17, mode: latch, min_gap: 0s}`)
	if res := fire(t, r, actuator.Request{Action: "release"}); res.Action != "idle" {
		t.Errorf("release while open = %+v, want idle", res)
	}
	fire(t, r, actuator.Request{Cause: "command:a"})
	if res := fire(t, r, actuator.Request{Cause: "command:b"}); res.Action != "folded" {
		t.Errorf("second trigger = %+v, want folded", res)
	}
	r.outs(t, 2)
	if res := fire(t, r, actuator.Request{Action: "release", Cause: "command:c"}); res.Action != "released" {
		t.Errorf("release = %+v", res)
	}
	outs := r.outs(t, 3)
	if outs[1].Level != gpio.High || outs[2].Level != gpio.Low {
		t.Errorf("levels %v", outs)
	}
	ps := r.readings(t, 3)
	if ps[2].Cause != "command:c" || ps[2].Folded != 1 {
		t.Errorf("release reading %+v", ps[2])
	}
}

type alarm struct {
	Alarm bool   `json:"alarm"`
	Lane  string `json:"lane"`
}

func (alarm) Kind() string { return "scanner_event" }

// TestRulesFireOnMatchingReadings: the output's "on" rules fire it through
// the engine; other readings and its own readings do not.
func TestRulesFireOnMatchingReadings(t *testing.T) {
	r := start(t, `
line: GPIO17
pulse: 10ms
min_gap: 0s
on:
  - {name: scanner-alarm, when: 'kind == "scanner_event" && payload.alarm'}
  - {name: bad-doc, when: 'kind == "document" && quality.status == "bad"'}
`)
	r.eng.Take(reading.Reading{Box: "b", Device: "xray1", Seq: 7, Payload: alarm{Alarm: false}})
	r.eng.Take(reading.Reading{Box: "b", Device: "cctv1", Seq: 2, Payload: Payload{Active: true}})
	r.eng.Take(reading.Reading{Box: "b", Device: "xray1", Seq: 8, Payload: alarm{Alarm: true, Lane: "L2"}})
	r.outs(t, 3)
	ps := r.readings(t, 3)
	if ps[1].Cause != "rule:scanner-alarm" || ps[1].Trigger == nil || ps[1].Trigger.Device != "xray1" || ps[1].Trigger.Seq != 8 {
		t.Errorf("activation = %+v, want rule:scanner-alarm from xray1 #8", ps[1])
	}
	if n := len(r.pin.Outs()); n != 3 {
		t.Errorf("%d levels driven, want 3: only the alarm fires", n)
	}
}

func TestOptionErrors(t *testing.T) {
	for src, want := range map[string]string{
		`{active: high}`:                                          "box.yaml:1: line: missing",
		`{line: X, active: on}`:                                   "box.yaml:1: active: must be high or low",
		`{line: X, mode: toggle}`:                                 "box.yaml:1: mode: must be pulse or latch",
		`{line: X, pulse: 0s}`:                                    "box.yaml:1: pulse: must be between",
		`{line: X, min_gap: -1s}`:                                 "box.yaml:1: min_gap: must be between",
		`{line: X, on: [{}]}`:                                     "box.yaml:1: on[0].when: missing: a CEL boolean expression",
		`{line: X, on: [{kind: a, qualty: bad}]}`:                 "box.yaml:1: on[0].qualty: unknown option",
		`{line: X, on: [{kind: a, quality: meh}]}`:                "box.yaml:1: on[0].quality: must be ok, suspect or bad",
		`{line: X, on: [{payload: {a: [1, 2]}}]}`:                 "box.yaml:1: on[0].payload: a: only strings, numbers and booleans",
		`{line: X, on: [{name: a, kind: b}, {name: a, kind: c}]}`: "box.yaml:1: on[1].name: \"a\" repeated",
		`{line: X, on: [{when: kind = 1}]}`:                       "box.yaml:1: on[0].when: column 6: Syntax error",
		`{line: X, on: [{when: 'kind', kind: a}]}`:                "box.yaml:1: on[0].when: give a CEL expression in when",
	} {
		_, err := New(drivertest.Config(t, src, drivertest.ID("c")))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %s", src, err, want)
		}
	}
}

// TestRuleErrorAtItsLine: a rule's mistake is reported at the line of the
// field that is wrong, not of the options block.
func TestRuleErrorAtItsLine(t *testing.T) {
	_, err := New(drivertest.Config(t, `line: GPIO17
on:
  - name: ok
    when: kind == "document"
  - name: broken
    when: kind == "document" && payload.valid ==
`, drivertest.ID("c")))
	if err == nil || !strings.Contains(err.Error(), "box.yaml:6: on[1].when: ") {
		t.Errorf("err = %v, want box.yaml:6: on[1].when: ...", err)
	}
}

// BenchmarkTakeToEdge measures the engine alone: a matching reading handed
// to Take until the output's active edge on the fake pin.
func BenchmarkTakeToEdge(b *testing.B) {
	r := start(b, `{line: GPIO17, mode: latch, min_gap: 0s, on: [{when: 'kind == "scanner_event" && payload.alarm'}]}`)
	rd := reading.Reading{Box: "b", Device: "xray1", Payload: alarm{Alarm: true}}
	var total time.Duration
	n := 1
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rd.Seq = uint64(i + 1)
		t0 := time.Now()
		r.eng.Take(rd)
		outs := r.outs(b, n+1)
		total += outs[n].At.Sub(t0)
		if _, err := r.eng.Fire("cctv1", actuator.Request{Action: "release"}); err != nil {
			b.Fatal(err)
		}
		n += 2
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/reading-to-edge")
}
