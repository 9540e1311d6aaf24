package contact

import (
	"context"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/gpioline/gpiolinetest"
	"github.com/kordon/kordon/internal/reading"
)

// stepped is a contact whose debounce timers the test fires by hand, so a
// burst of bounces is "within the debounce window" by construction rather
// than by how fast the machine happens to be.
type stepped struct {
	*contact
	timers chan chan time.Time
}

func newStepped(t *testing.T, fake *gpiolinetest.Lines, opts string) stepped {
	t.Helper()
	d, err := New(drivertest.Config(t, opts, drivertest.ID("door1"), drivertest.Pins(fake.Open)))
	if err != nil {
		t.Fatal(err)
	}
	s := stepped{contact: d.(*contact), timers: make(chan chan time.Time, 1024)}
	s.after = func(time.Duration) <-chan time.Time {
		ch := make(chan time.Time) // unbuffered: firing returns once the driver took it
		s.timers <- ch
		return ch
	}
	return s
}

func run(t *testing.T, d device.Device) (*drivertest.Output, func()) {
	t.Helper()
	out := drivertest.NewOutput()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, out) }()
	return out, func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
}

func waitReadings(t *testing.T, out *drivertest.Output, n int) []reading.Reading {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		changed := out.Changed() // before the look: a reading in between still wakes it
		if rs := out.Readings(); len(rs) >= n {
			return rs
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("%d readings, want %d", len(out.Readings()), n)
		}
	}
}

func waitCount(t *testing.T, out *drivertest.Output, name string, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		changed := out.Changed() // before the look: a count in between still wakes it
		if out.Counts()[name] >= n {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("counter %s = %d, want %d", name, out.Counts()[name], n)
		}
	}
}

// bounce delivers edges alternating from the line's level, ending at final,
// and returns the debounce timer started by the last one.
func bounce(t *testing.T, s stepped, pin *gpiolinetest.Pin, final gpio.Level, edges int) chan time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l := final
	if edges%2 == 0 {
		l = !final
	}
	var timer chan time.Time
	for i := 0; i < edges; i++ {
		if err := pin.Edge(ctx, l); err != nil {
			t.Fatal(err)
		}
		select {
		case timer = <-s.timers:
		case <-ctx.Done():
			t.Fatalf("edge %d started no debounce timer", i)
		}
		l = !l
	}
	return timer
}

func payloads(rs []reading.Reading) []Payload {
	var out []Payload
	for _, r := range rs {
		out = append(out, r.Payload.(Payload))
	}
	return out
}

// TestBouncingInputsProduceOneChangeEach: a door opening with 7 bounces and
// closing with 5 gives exactly two changes, after the initial state.
func TestBouncingInputsProduceOneChangeEach(t *testing.T) {
	fake := gpiolinetest.New("GPIO27")
	pin := fake.Pin("GPIO27")
	s := newStepped(t, fake, `{line: GPIO27, role: door, active: low}`)
	out, stop := run(t, s.contact)

	first := waitReadings(t, out, 1)[0].Payload.(Payload)
	if !first.Initial || first.Active || first.State != "closed" || first.Level != 1 {
		t.Fatalf("initial state = %+v, want closed (pulled up, active low)", first)
	}
	bounce(t, s, pin, gpio.Low, 8) <- time.Now() // opens: ends low
	waitReadings(t, out, 2)
	bounce(t, s, pin, gpio.High, 6) <- time.Now() // closes
	rs := waitReadings(t, out, 3)
	stop()

	rs = out.Readings()
	if len(rs) != 3 {
		t.Fatalf("%d readings, want 3 (initial, open, close): %+v", len(rs), payloads(rs))
	}
	got := payloads(rs)
	if !got[1].Active || got[1].State != "open" || got[1].Level != 0 || got[1].Bounces != 7 {
		t.Errorf("open = %+v, want active open level 0 with 7 bounces", got[1])
	}
	if got[2].Active || got[2].State != "closed" || got[2].Level != 1 || got[2].Bounces != 5 {
		t.Errorf("close = %+v, want inactive closed level 1 with 5 bounces", got[2])
	}
	if c := out.Counts()["bounces"]; c != 12 {
		t.Errorf("bounces counter = %d, want 12", c)
	}
}

// TestGlitchIsNoChange: a spike that settles back to the old level reports nothing.
func TestGlitchIsNoChange(t *testing.T) {
	fake := gpiolinetest.New("GPIO5")
	pin := fake.Pin("GPIO5")
	s := newStepped(t, fake, `{line: GPIO5, role: pedal, active: high}`) // pulled down
	out, stop := run(t, s.contact)
	waitReadings(t, out, 1)
	bounce(t, s, pin, gpio.Low, 2) <- time.Now() // high, low: back where it was
	// The driver reads the level after the timer: let it, before the next edge.
	waitCount(t, out, "glitches", 1)
	bounce(t, s, pin, gpio.High, 1) <- time.Now()
	rs := waitReadings(t, out, 2)
	stop()
	if len(out.Readings()) != 2 {
		t.Fatalf("readings: %+v", payloads(out.Readings()))
	}
	if p := rs[1].Payload.(Payload); !p.Active || p.State != "pressed" || p.Bounces != 0 {
		t.Errorf("press = %+v", p)
	}
	if out.Counts()["glitches"] != 1 {
		t.Errorf("counts = %v, want one glitch", out.Counts())
	}
}

// TestChatterIsReportedSuspect: a line that never settles is reported
// after maxBounces edges, marked suspect, instead of never.
func TestChatterIsReportedSuspect(t *testing.T) {
	fake := gpiolinetest.New("GPIO6")
	pin := fake.Pin("GPIO6")
	s := newStepped(t, fake, `{line: GPIO6, role: tamper}`)
	out, stop := run(t, s.contact)
	waitReadings(t, out, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l := gpio.Low
	for i := 0; i <= maxBounces; i++ {
		if err := pin.Edge(ctx, l); err != nil {
			t.Fatal(err)
		}
		if i < maxBounces { // the last edge ends the settle without a timer
			<-s.timers
		}
		l = !l
	}
	rs := waitReadings(t, out, 2)
	stop()
	if rs[1].Quality.Status != reading.Suspect || out.Counts()["chatter"] != 1 {
		t.Errorf("quality %+v counts %v, want suspect and one chatter", rs[1].Quality, out.Counts())
	}
	if p := rs[1].Payload.(Payload); !p.Active || p.State != "tripped" {
		t.Errorf("tamper = %+v, want tripped", p)
	}
}

// TestRealDebounceTimer runs with the real timer: one clean edge is one change.
func TestRealDebounceTimer(t *testing.T) {
	fake := gpiolinetest.New("GPIO7")
	d, err := New(drivertest.Config(t, `{line: GPIO7, role: tamper, debounce: 5ms}`, drivertest.ID("t"), drivertest.Pins(fake.Open)))
	if err != nil {
		t.Fatal(err)
	}
	out, stop := run(t, d)
	waitReadings(t, out, 1)
	if err := fake.Pin("GPIO7").Edge(context.Background(), gpio.Low); err != nil {
		t.Fatal(err)
	}
	rs := waitReadings(t, out, 2)
	stop()
	if p := rs[1].Payload.(Payload); !p.Active || p.Role != "tamper" {
		t.Errorf("got %+v", p)
	}
	if !rs[1].Origin.After(rs[0].Origin) && !rs[1].Origin.Equal(rs[0].Origin) {
		t.Errorf("origin of the change %v before the initial reading %v", rs[1].Origin, rs[0].Origin)
	}
}

func TestOptionErrors(t *testing.T) {
	for src, want := range map[string]string{
		`{role: door}`:                "line: missing",
		`{line: X, role: window}`:     "role: must be door",
		`{line: X, active: up}`:       "active: must be high or low",
		`{line: X, pull: sideways}`:   "pull: must be up, down",
		`{line: X, debounce: 5s}`:     "debounce: must be between",
		`{line: X, debounce: 0s}`:     "debounce: must be between",
		`{line: X, bogus: 1}`:         "bogus: unknown option",
		`{line: X, debounce: "soon"}`: "debounce",
	} {
		_, err := New(drivertest.Config(t, src, drivertest.ID("c")))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "box.yaml:1:") {
			t.Errorf("%s: err = %v, want box.yaml:1: ...%s", src, err, want)
		}
	}
}

// TestUnknownLineIsUnplugged: a missing line is a device fault, not a panic.
func TestUnknownLineIsUnplugged(t *testing.T) {
	d, err := New(drivertest.Config(t, `{line: GPIO99}`, drivertest.ID("c"), drivertest.Pins(gpiolinetest.New().Open)))
	if err != nil {
		t.Fatal(err)
	}
	err = d.Run(context.Background(), drivertest.NewOutput())
	if device.ReasonOf(err) != device.Unplugged || !strings.Contains(err.Error(), "GPIO99") {
		t.Errorf("Run = %v, want unplugged naming the line", err)
	}
}

// TestDoorBounceTrace replays a recorded door through hwtest/replay into a
// fake pin. Time is stepped from the trace: the debounce timer fires
// wherever the trace is quiet for longer than the debounce.
func TestDoorBounceTrace(t *testing.T) {
	tr, err := trace.ReadFile("testdata/traces/door-bounce.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := tr.Header.OptionsNode()
	if err != nil {
		t.Fatal(err)
	}
	fake := gpiolinetest.New("GPIO27")
	d, err := New(drivertest.NewConfig(device.Options{File: "trace", Node: opts}, drivertest.ID("door1"), drivertest.Pins(fake.Open)))
	if err != nil {
		t.Fatal(err)
	}
	s := stepped{contact: d.(*contact), timers: make(chan chan time.Time, 1024)}
	s.after = func(time.Duration) <-chan time.Time {
		ch := make(chan time.Time)
		s.timers <- ch
		return ch
	}
	out, stop := run(t, s.contact)
	waitReadings(t, out, 1)

	var gpioEvents []int
	for i, e := range tr.Events {
		if e.GPIO != nil {
			gpioEvents = append(gpioEvents, i)
		}
	}
	settled := func() int { return len(out.Readings()) + out.Counts()["glitches"] }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = replay.GPIO(ctx, tr, map[string]*gpiotest.Pin{"GPIO27": fake.Pin("GPIO27").Pin}, replay.Options{
		OnEvent: func(i int, e trace.Event) {
			timer := <-s.timers
			next := -1
			for _, j := range gpioEvents {
				if j > i {
					next = j
					break
				}
			}
			if next >= 0 && tr.Events[next].T-e.T < s.opts.Debounce {
				return // still bouncing
			}
			before := settled()
			timer <- time.Now()
			for {
				changed := out.Changed() // before the look: an event in between still wakes it
				if settled() != before {
					break
				}
				select {
				case <-changed:
				case <-ctx.Done():
					t.Errorf("event %d: nothing settled", i)
					return
				}
			}
		},
	})
	stop()
	if err != nil {
		t.Fatal(err)
	}
	got := payloads(out.Readings())
	if len(got) != 3 || got[1].State != "open" || got[1].Bounces != 4 || got[2].State != "closed" || got[2].Bounces != 2 {
		t.Errorf("readings = %+v, want initial, open (4 bounces), closed (2 bounces)", got)
	}
	if out.Counts()["glitches"] != 1 {
		t.Errorf("counts = %v, want the spike as one glitch", out.Counts())
	}
}
