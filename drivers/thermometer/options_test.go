package thermometer

import (
	"math"
	"strings"
	"testing"

	"github.com/kordon/kordon/internal/modbus"
)

const customProfile = `
poll: 500ms
slaves:
  - address: 5
    name: booth-3
    profile: acme-ir
profiles:
  acme-ir:
    function: input
    unit: F
    merge_gap: 0
    object: {register: 0x100, width: 32, signed: true, scale: 0.01, word_order: low_first}
    housing: {register: 0x104, signed: true, scale: 0.1}
    status:
      register: 0x105
      bits:
        - {bit: 0, name: lens_dirty, bad: false}
        - {bit: 7, name: sensor_fault}
screening:
  threshold: 38.0
`

func TestCustomProfileFromConfig(t *testing.T) {
	d, err := New(configWith(t, customProfile))
	if err != nil {
		t.Fatal(err)
	}
	s := d.(*bus).slaves[0]
	want := []modbus.Request{
		{Slave: 5, Function: modbus.ReadInputRegisters, Address: 0x100, Quantity: 2},
		{Slave: 5, Function: modbus.ReadInputRegisters, Address: 0x104, Quantity: 2},
	}
	if len(s.reqs) != 2 || s.reqs[0] != want[0] || s.reqs[1] != want[1] {
		t.Fatalf("requests %+v, want %+v", s.reqs, want)
	}
	// 98.6 °F = 37 °C as a 32-bit value, low word first: 9860 = 0x00002684.
	sm := s.profile.Decode(map[uint16]uint16{0x100: 0x2684, 0x101: 0x0000, 0x104: uint16(int16(770)), 0x105: 0x0001})
	if round(sm.Measured) != 37 || round(*sm.Housing) != 25 || sm.BadStatus || len(sm.Status) != 1 || sm.Status[0] != "lens_dirty" {
		t.Fatalf("sample %+v (housing %v)", sm, *sm.Housing)
	}
	sm = s.profile.Decode(map[uint16]uint16{0x100: 0xFFFF, 0x101: 0xFFFF, 0x105: 0x0081})
	if round(sm.Measured) != round((-0.01-32)*5/9) || !sm.BadStatus {
		t.Fatalf("negative/bad sample %+v", sm)
	}
	if s.screen.Threshold() != 38 {
		t.Fatalf("threshold %v", s.screen.Threshold())
	}
}

// Every mistake names the file, the line and the field.
func TestOptionsErrorsNameLineAndField(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"slaves: []", "box.yaml:1: slaves: want a list"},
		{"poll: -1s\nslaves: [{address: 1, profile: xy-md02}]", "box.yaml:1: poll: must be positive"},
		{"colour: red", "box.yaml:1: colour: unknown option"},
		{"slaves:\n  - {address: 0, profile: xy-md02}", "box.yaml:2: slaves[0].address: 0: want 1 to 247"},
		{"slaves:\n  - {address: 1, profile: xy-md02}\n  - {address: 1, profile: xy-md02}", "box.yaml:3: slaves[1].address: address 1 is already"},
		{"slaves:\n  - {address: 1, profile: nope}", "box.yaml:2: slaves[0].profile: unknown profile \"nope\" (built in: calex-pyrousb"},
		{"slaves:\n  - {address: 1, profile: xy-md02, adress: 2}", "box.yaml:2: slaves[0].adress: unknown option"},
		{"slaves: [{address: 1, profile: xy-md02}]\nscreening:\n  threshold: 12", "box.yaml:3: screening.threshold: 12.0 °C is not a body temperature"},
		{"slaves: [{address: 1, profile: xy-md02}]\nscreening:\n  treshold: 38", "box.yaml:3: screening.treshold: unknown option"},
		{"slaves:\n  - address: 1\n    profile: xy-md02\n    screening: {hysteresis: 9}", "box.yaml:4: slaves[0].screening.hysteresis"},
		{"slaves: [{address: 1, profile: xy-md02}]\nscreening: {ambient_coeff: 0.1}", "slaves[0].screening.ambient_coeff: profile \"xy-md02\" reports no housing"},
		{"poll: 1s\nslaves: [{address: 1, profile: xy-md02}]\nscreening: {stuck_window: 1500ms}", "box.yaml:3: screening.stuck_window: 1.5s is shorter than two polls"},
		{"slaves: [{address: 1, profile: p}]\nprofiles:\n  p:\n    function: coils", "box.yaml:4: profiles.p.function: \"coils\": want holding"},
		{"slaves: [{address: 1, profile: p}]\nprofiles:\n  p:\n    function: input", "box.yaml:4: profiles.p.object: missing"},
		{"slaves: [{address: 1, profile: p}]\nprofiles:\n  p:\n    function: input\n    object: {register: 1, widht: 32}", "box.yaml:5: profiles.p.object.widht: unknown option"},
		{"slaves: [{address: 1, profile: p}]\nprofiles:\n  p:\n    function: input\n    object: {register: 1, width: 24}", "box.yaml:5: profiles.p.object.width: 24: want 16 or 32"},
		{"slaves: [{address: 1, profile: p}]\nprofiles:\n  p:\n    function: input\n    object: {register: 0x10000}", "box.yaml:5: profiles.p.object.register: 65536: want 0 to 0xffff"},
		{"slaves: [{address: 1, profile: p}]\nprofiles:\n  p:\n    function: input\n    object: {register: 1}\n    status: {register: 2, bits: [{bit: 16, name: x}]}", "box.yaml:6: profiles.p.status.bits[0].bit"},
		{"slaves: [{address: 1, profile: xy-md02}]\nprofiles:\n  xy-md02: {function: input}", "box.yaml:3: profiles.xy-md02: \"xy-md02\" is a built-in profile"},
	} {
		_, err := New(configWith(t, c.src))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n  got  %v\n  want %s", c.src, err, c.want)
		}
	}
}

// round keeps 4 decimals, as screening does.
func round(v float64) float64 { return math.Round(v*1e4) / 1e4 }
