package temper

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/drivers/thermometer/screening"
	"github.com/kordon/kordon/hwtest/goldentest"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/transport"
	"github.com/kordon/kordon/internal/usbhid"
	"github.com/kordon/kordon/internal/usbhid/usbhidtest"
)

var (
	update    = flag.Bool("update", false, "rewrite golden files from the driver's output")
	genTraces = flag.Bool("gentraces", false, "rewrite the synthesised TEMPer traces")
)

func TestDecodeReportScalings(t *testing.T) {
	for _, c := range []struct {
		report []byte
		div    int
		want   float64
	}{
		{[]byte{0x80, 0x80, 0x0E, 0x22, 0, 0, 0, 0}, 100, 36.18},   // 0x0E22 = 3618
		{[]byte{0x80, 0x80, 0x09, 0x29, 0, 0, 0, 0}, 100, 23.45},   // TEMPerX
		{[]byte{0x80, 0x80, 0x17, 0x70, 0, 0, 0, 0}, 256, 23.4375}, // older firmware
		{[]byte{0x80, 0x80, 0xF8, 0x30, 0, 0, 0, 0}, 100, -20.0},   // below zero
		{[]byte{0x80, 0x80, 0xEC, 0x00, 0, 0, 0, 0}, 256, -20.0},   // below zero, /256
		{[]byte{0x80, 0x80, 0x00, 0x00}, 100, 0},                   // a bare 4-byte report
		{[]byte{0x80, 0x80, 0x7F, 0xFF, 0x11, 0x22, 0x33, 0x44}, 256, 127.99609375},
	} {
		got, err := DecodeReport(c.report, c.div)
		if err != nil || got != c.want {
			t.Errorf("% x /%d: %v %v, want %v", c.report, c.div, got, err, c.want)
		}
	}
	if _, err := DecodeReport([]byte{0x80, 0x80, 0x4E, 0x20, 0, 0, 0, 0}, 100); !errors.Is(err, ErrNoSensor) {
		t.Errorf("0x4e20: %v, want no sensor", err)
	}
	if _, err := DecodeReport([]byte{0x80, 0x80, 0x4E}, 100); !errors.Is(err, ErrShort) {
		t.Errorf("short: %v", err)
	}
}

func configWith(t *testing.T, vendor, product, src string, open usbhid.Opener) device.Config {
	t.Helper()
	return drivertest.Config(t, src, drivertest.ID("t1"),
		drivertest.Transport(transport.Config{Type: "usb", Vendor: vendor, Product: product}), drivertest.HID(open))
}

func noHID(usbhid.ID) (usbhid.Device, error) { return nil, errors.New("no device") }

func TestScalingFollowsProductOrOption(t *testing.T) {
	for _, c := range []struct {
		vendor, product, src string
		div                  int
		err                  string
	}{
		{"413d", "2107", "", 100, ""},
		{"0c45", "7401", "", 256, ""},
		{"1234", "5678", "", 0, "box.yaml:0: scaling: cannot tell"},
		{"1234", "5678", "scaling: \"256\"", 256, ""},
		{"413d", "2107", "scaling: 200", 0, "box.yaml:1: scaling"},
		{"413d", "2107", "colour: red", 0, "box.yaml:1: colour: unknown option"},
		{"413d", "2107", "screening: {threshold: 12}", 0, "box.yaml:1: screening.threshold"},
	} {
		d, err := New(configWith(t, c.vendor, c.product, c.src, noHID))
		if c.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), c.err) {
				t.Errorf("%s %s %q: err %v, want %q", c.vendor, c.product, c.src, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.src, err)
			continue
		}
		if got := d.(*temper).div; got != c.div {
			t.Errorf("%s:%s %q: scaling %d, want %d", c.vendor, c.product, c.src, got, c.div)
		}
	}
}

// TestGoldenTraces replays every TEMPer trace through the HID seam into
// the real driver and compares the readings with testdata/golden.
func TestGoldenTraces(t *testing.T) {
	cols := goldentest.Run(t, "testdata", Driver(), goldentest.Options{Update: *update})
	if *update {
		return
	}
	if n := len(cols.Names()); n < 3 {
		t.Fatalf("%d golden cases", n)
	}
	checkDualProbe(t, cols.Get(t, "temper2-dual-probe"))
}

// checkDualProbe: a TEMPer2 answering in two reports gets a reading per
// probe, and the probe's fever is announced under its name.
func checkDualProbe(t *testing.T, col *drivertest.Output) {
	t.Helper()
	sensors, onsets := map[string]int{}, map[string]int{}
	for _, r := range col.Readings() {
		p := r.Payload.(screening.Temperature)
		sensors[p.Sensor]++
		for _, e := range p.Events {
			if e == screening.EventFeverOnset {
				onsets[p.Sensor]++
			}
		}
	}
	if sensors["booth-2"] == 0 || sensors["booth-2-probe"] == 0 || onsets["booth-2-probe"] != 1 || onsets["booth-2"] != 0 {
		t.Errorf("readings per sensor %v, fever onsets %v; want both sensors, one onset on the probe", sensors, onsets)
	}
}

func TestUnpluggedDeviceEndsRun(t *testing.T) {
	rep := usbhidtest.New()
	d, err := New(configWith(t, "413d", "2107", "poll: 10ms", func(usbhid.ID) (usbhid.Device, error) { return rep, nil }))
	if err != nil {
		t.Fatal(err)
	}
	rep.Unplug()
	err = d.Run(context.Background(), drivertest.NewOutput())
	if device.ReasonOf(err) != device.Unplugged {
		t.Fatalf("err %v, want unplugged", err)
	}
}

// TestGenerateTraces writes the synthesised TEMPer traces (no TEMPer was on
// the bench; reports follow the field guide).
func TestGenerateTraces(t *testing.T) {
	if !*genTraces {
		t.Skip("run with -gentraces")
	}
	write := func(name, note string, opts map[string]any, raws []uint16, second ...uint16) {
		f, err := os.Create(filepath.Join("testdata", "traces", name+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		w, err := trace.NewWriter(f, trace.Header{Device: "temper1", Driver: "temper", Transport: "usb", Options: opts,
			Recorded: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC), Note: note,
			Source: "synthesised from the TEMPer report format (field guide, Thermometers); 413d:2107 on interface 1"})
		if err != nil {
			t.Fatal(err)
		}
		for i, raw := range raws {
			at := time.Duration(i) * time.Second
			w.Write(trace.Event{T: at, USB: &trace.USB{Endpoint: 0x02, Data: Query()}})
			w.Write(trace.Event{T: at + 10*time.Millisecond, USB: &trace.USB{Endpoint: 0x82, Data: []byte{0x80, 0x80, byte(raw >> 8), byte(raw), 0x4e, 0x20, 0x00, 0x00}}})
			if i < len(second) {
				// A TEMPer2 answers in two reports: the second holds its probe.
				r2 := second[i]
				w.Write(trace.Event{T: at + 12*time.Millisecond, USB: &trace.USB{Endpoint: 0x82, Data: []byte{0x80, 0x40, byte(r2 >> 8), byte(r2), 0x4e, 0x20, 0x00, 0x00}}})
			}
		}
	}
	c100 := func(cs ...float64) (out []uint16) {
		for _, c := range cs {
			out = append(out, uint16(int16(c*100)))
		}
		return out
	}
	opts := func(scaling string) map[string]any {
		return map[string]any{"poll": "10ms", "timeout": "10s", "scaling": scaling, "name": "booth-2",
			"screening": map[string]any{"heartbeat": "50ms", "stuck_window": "0s"}}
	}
	write("temperx-fever", "TEMPerX (/100): normal, a fever, recovery", opts("100"), c100(36.4, 36.5, 37.9, 38.1, 38.0, 37.0, 36.6, 36.6, 36.6, 36.6, 36.6, 36.7))
	var old []uint16
	for _, c := range []float64{23.5, 23.5, 36.25, 36.5, -5.25} {
		old = append(old, uint16(int16(c*256)))
	}
	write("temper-old-firmware", "older firmware (/256): ambient, a traveller, a cold probe", opts("256"), old)
	write("temperx-no-sensor", "no probe fitted (0x4e20), then fitted", opts("100"), append([]uint16{NoSensor, NoSensor, NoSensor}, c100(22.5, 22.5)...))
	write("temper2-dual-probe", "TEMPer2 (/100) with its external probe: the second report of each answer is the probe; the probe reads a fever, the stick stays at room temperature",
		opts("100"), c100(24.0, 24.0, 24.1, 24.1, 24.0, 24.0), c100(36.5, 38.2, 38.3, 38.1, 36.6, 36.5)...)
	_ = fmt.Sprint
}
