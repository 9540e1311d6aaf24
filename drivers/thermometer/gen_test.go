package thermometer

import (
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/modbus"
)

var genTraces = flag.Bool("gentraces", false, "rewrite the synthesised Modbus traces in testdata/traces")

// The Modbus traces are synthesised from the register maps in the field
// guide (no pyrometer was on the bench): this generator writes them so the
// CRCs are right and the story of each is readable here. Run
// `go test -run TestGenerateTraces -gentraces` then `-update` for goldens.
func TestGenerateTraces(t *testing.T) {
	if !*genTraces {
		t.Skip("run with -gentraces to rewrite testdata/traces")
	}
	for name, tr := range synthTraces() {
		f, err := os.Create(filepath.Join("testdata", "traces", name+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		w, err := trace.NewWriter(f, tr.Header)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range tr.Events {
			if err := w.Write(e); err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
	}
	writeTrace(t, filepath.Join("..", "..", "demo", "traces", "fever-screening.jsonl"), demoTrace())
}

func writeTrace(t *testing.T, path string, tr *trace.Trace) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := trace.NewWriter(f, tr.Header)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range tr.Events {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
}

// demoTrace is the booth thermometer of `make run`: one poll every half
// second, travellers stepping up and leaving, one of them feverish, looping
// about every 30 s.
func demoTrace() *trace.Trace {
	opts := calexOpts(map[string]any{"heartbeat": "5s", "stuck_window": "0s"})
	opts["poll"] = "500ms"
	s := newSynth("make run: travellers at a booth, one with a fever", calexSource, opts)
	s.poll = 500 * time.Millisecond
	lane := func(n int) {
		for i := 0; i < n; i++ {
			s.calex(22.1+float64(i%2)/10, 25.0, 0)
		}
	}
	traveller := func(temps ...float64) {
		for _, c := range temps {
			s.calex(c, 25.0, 0)
		}
	}
	lane(6)
	s.note("a traveller steps up")
	traveller(36.5, 36.6, 36.6, 36.7, 36.6, 36.6)
	lane(8)
	s.note("a feverish traveller steps up")
	traveller(38.2, 38.4, 38.5, 38.4, 38.4, 38.3, 38.4, 38.4)
	lane(8)
	s.note("a traveller steps up")
	traveller(36.4, 36.5, 36.5, 36.4, 36.5, 36.5)
	lane(6)
	return &s.tr
}

// synth builds a poll/response trace one bus transaction at a time.
type synth struct {
	tr   trace.Trace
	t    time.Duration
	poll time.Duration
}

const replyDelay = 20 * time.Millisecond

func newSynth(note, source string, opts map[string]any) *synth {
	return &synth{poll: 20 * time.Millisecond, tr: trace.Trace{Header: trace.Header{
		Trace: trace.Version, Device: "thermo1", Driver: "modbus-thermometer", Transport: "serial",
		Options: opts, Recorded: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC), Source: source, Note: note,
	}}}
}

func (s *synth) note(text string) { s.tr.Events = append(s.tr.Events, trace.Event{T: s.t, Note: text}) }

// ask is one request and its reply (nil: the slave stays silent).
func (s *synth) ask(q modbus.Request, reply []byte) {
	s.tr.Events = append(s.tr.Events, trace.Event{T: s.t, Host: q.Encode()})
	if reply != nil {
		s.tr.Events = append(s.tr.Events, trace.Event{T: s.t + replyDelay, Dev: reply})
		s.t += replyDelay + time.Duration(len(reply))*time.Millisecond // ~1.15 ms a byte at 9600
	} else {
		s.t += 400 * time.Millisecond
	}
}

func (s *synth) next() { s.t += s.poll }

func tenth(c float64) uint16 { return uint16(int16(math.Round(c * 10))) }

var (
	calexEmis = modbus.Request{Slave: 1, Function: modbus.ReadHoldingRegisters, Address: 0x08, Quantity: 1}
	calexTemp = modbus.Request{Slave: 1, Function: modbus.ReadHoldingRegisters, Address: 0x12, Quantity: 4}
)

// calex is one poll of a Calex PyroUSB at slave 1: emissivity, then object
// (filtered, unfiltered), housing and status.
func (s *synth) calex(obj, housing float64, status uint16) {
	s.ask(calexEmis, calexEmis.EncodeReply([]uint16{9800}))
	s.ask(calexTemp, calexTemp.EncodeReply([]uint16{tenth(obj), tenth(obj + 0.1), tenth(housing), status}))
	s.next()
}

func calexOpts(extra map[string]any) map[string]any {
	screening := map[string]any{"threshold": 37.5, "hysteresis": 0.3, "confirm": 2, "deadband": 0.2, "heartbeat": "200ms", "stuck_window": "1s"}
	for k, v := range extra {
		screening[k] = v
	}
	return map[string]any{
		"poll": "20ms", "timeout": "400ms", "retries": 1,
		"slaves":    []any{map[string]any{"address": 1, "name": "lane-1", "profile": "calex-pyrousb"}},
		"screening": screening,
	}
}

const calexSource = "synthesised from the Calex PyroUSB register map (field guide, Thermometers); 9600 8N1, 20 ms reply delay"

func synthTraces() map[string]*trace.Trace {
	out := map[string]*trace.Trace{}

	// normal: an empty lane, then travellers with normal temperatures.
	s := newSynth("empty lane, then three travellers with normal temperatures", calexSource, calexOpts(nil))
	s.note("lane empty: the pyrometer sees the far wall")
	for _, c := range []float64{22.1, 22.1, 22.2, 22.1, 22.0, 22.1, 22.1, 22.2, 22.1, 22.1, 22.2, 22.1} {
		s.calex(c, 24.9, 0)
	}
	for _, c := range []float64{36.4, 36.5, 36.5, 36.6, 22.3, 22.2, 36.9, 36.8, 36.9, 22.2, 35.9, 36.1, 36.0, 22.1} {
		s.calex(c, 25.0, 0)
	}
	out["calex-normal"] = &s.tr

	// fever: a spike that is not confirmed, a fever, hysteresis, recovery.
	s = newSynth("a one-sample spike, a feverish traveller, hovering inside the hysteresis, then a healthy one", calexSource, calexOpts(nil))
	for _, c := range []float64{36.5, 36.6, 37.8, 36.6} {
		s.calex(c, 25.0, 0)
	}
	s.note("feverish traveller steps up")
	for _, c := range []float64{38.1, 38.2, 38.3, 38.2, 37.4, 37.3, 37.5, 38.0} {
		s.calex(c, 25.0, 0)
	}
	s.note("traveller leaves; a healthy one steps up")
	for _, c := range []float64{36.7, 36.6, 36.7} {
		s.calex(c, 25.0, 0)
	}
	out["calex-fever"] = &s.tr

	// status bits: measurement error, object too high, and an implausible
	// value with a clean status word.
	s = newSynth("status bits: measurement error, object too high; then an implausible reading", calexSource, calexOpts(nil))
	s.calex(36.5, 25.0, 0)
	s.calex(36.6, 25.0, 0x0001)
	s.calex(36.6, 25.0, 0x0001)
	s.calex(36.5, 25.0, 0)
	s.calex(36.5, 25.0, 0x0010)
	s.calex(36.4, 25.0, 0)
	s.calex(150.2, 25.0, 0)
	s.calex(36.6, 25.0, 0)
	out["calex-status"] = &s.tr

	// CRC errors: one corrupted reply recovered by the retry; then both
	// attempts corrupted, a fault; then clean again.
	s = newSynth("a corrupted reply the retry recovers, then a poll whose retry is corrupted too", calexSource, calexOpts(nil))
	s.calex(36.5, 25.0, 0)
	good := calexTemp.EncodeReply([]uint16{tenth(36.9), tenth(37.0), tenth(25.0), 0})
	bad := append([]byte(nil), good...)
	bad[4] ^= 0x04 // one bit flipped on the line
	s.note("line noise flips a bit")
	s.ask(calexEmis, calexEmis.EncodeReply([]uint16{9800}))
	s.ask(calexTemp, bad)
	s.ask(calexTemp, good)
	s.next()
	s.ask(calexEmis, calexEmis.EncodeReply([]uint16{9800}))
	s.ask(calexTemp, bad)
	s.ask(calexTemp, bad)
	s.next()
	s.calex(36.9, 25.0, 0)
	s.calex(36.5, 25.0, 0)
	out["calex-crc"] = &s.tr

	// exception replies: busy (retried), then illegal data address (not
	// retried: a wrong map or firmware), then normal again.
	s = newSynth("a busy exception the retry gets past, then an illegal-address exception, then normal", calexSource, calexOpts(nil))
	s.calex(36.5, 25.0, 0)
	s.ask(calexEmis, calexEmis.EncodeReply([]uint16{9800}))
	s.ask(calexTemp, calexTemp.EncodeException(0x06))
	s.ask(calexTemp, calexTemp.EncodeReply([]uint16{tenth(36.8), tenth(36.9), tenth(25.0), 0}))
	s.next()
	s.ask(calexEmis, calexEmis.EncodeException(0x02))
	s.next()
	s.ask(calexEmis, calexEmis.EncodeException(0x02))
	s.next()
	s.calex(36.8, 25.0, 0)
	out["calex-exception"] = &s.tr

	// timeout: the pyrometer is unplugged from the bus for two polls (each
	// asked twice), then plugged back.
	s = newSynth("pyrometer unplugged from the RS-485 bus for two polls, then back", calexSource, calexOpts(nil))
	s.calex(36.5, 25.0, 0)
	s.calex(36.6, 25.0, 0)
	// A note, not an unplug event: the RS-485 adapter (the port) stays;
	// only the slave behind it is gone.
	s.note("pyrometer cable pulled from the bus (the RS-485 adapter stays)")
	for range 2 {
		s.ask(calexEmis, nil)
		s.ask(calexEmis, nil)
		s.next()
	}
	s.note("cable back")
	s.calex(36.6, 25.0, 0)
	s.calex(36.7, 25.0, 0)
	out["calex-timeout"] = &s.tr

	// stuck: a sensor that keeps saying 36.6 (window 1s = 50 polls of 20ms).
	s = newSynth("the sensor freezes at 36.6 for longer than the 300 ms stuck window, then comes alive", calexSource, calexOpts(map[string]any{"stuck_window": "300ms"}))
	for _, c := range []float64{36.4, 36.5} {
		s.calex(c, 25.0, 0)
	}
	s.note("sensor freezes")
	for range 20 {
		s.calex(36.6, 25.0, 0)
	}
	s.note("sensor alive again")
	s.calex(36.4, 25.0, 0)
	s.calex(36.5, 25.0, 0)
	out["calex-stuck"] = &s.tr

	// negative temperatures: an outdoor lane in winter, two slaves on one
	// bus: an Omega OS-MINI pyrometer and an XY-MD02 ambient sensor.
	negOpts := map[string]any{
		"poll": "20ms", "timeout": "400ms", "retries": 1,
		"slaves": []any{
			map[string]any{"address": 3, "name": "truck-lane", "profile": "omega-os-mini"},
			map[string]any{"address": 7, "name": "outdoor-air", "profile": "xy-md02", "screening": map[string]any{"fever": false, "deadband": 0.5}},
		},
		"screening": map[string]any{"heartbeat": "200ms", "stuck_window": "0s", "min": -40},
	}
	s = newSynth("outdoor truck lane at -18 °C: an Omega OS-MINI and an XY-MD02 on one bus", "synthesised from the Omega OS-MINI and XY-MD02 register maps (field guide); 9600 8N1", negOpts)
	omega := modbus.Request{Slave: 3, Function: modbus.ReadHoldingRegisters, Address: 0x0E, Quantity: 4}
	xy := modbus.Request{Slave: 7, Function: modbus.ReadInputRegisters, Address: 1, Quantity: 2}
	for i, c := range []float64{-18.4, -18.5, -19.1, -0.4, 0.3, -12.0, -45.2, -18.7} {
		s.ask(omega, omega.EncodeReply([]uint16{tenth(c), tenth(c), tenth(-5.5), 0}))
		s.ask(xy, xy.EncodeReply([]uint16{tenth(-21.0 + 0.3*float64(i)), 853}))
		s.next()
	}
	out["multi-negative"] = &s.tr
	return out
}
