package regmap

import (
	"testing"

	"github.com/kordon/kordon/internal/modbus"
)

func TestBuiltinProfilesPlanRequests(t *testing.T) {
	for name, want := range map[string][]modbus.Request{
		"calex-pyrousb": {{Slave: 1, Function: 3, Address: 0x08, Quantity: 1}, {Slave: 1, Function: 3, Address: 0x12, Quantity: 4}},
		"omega-os-mini": {{Slave: 1, Function: 3, Address: 0x0E, Quantity: 4}},
		"xy-md02":       {{Slave: 1, Function: 4, Address: 1, Quantity: 2}},
	} {
		got, err := Builtin()[name].Requests(1)
		if err != nil || len(got) != len(want) {
			t.Fatalf("%s: %+v %v", name, got, err)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: request %d %+v, want %+v", name, i, got[i], want[i])
			}
		}
	}
}

func TestDecodeLittleEndianSigned32(t *testing.T) {
	p := Profile{unit: "K", object: field{reg: 0x10, width: 32, signed: true, scale: 0.01, lowFirst: true}}
	// 310.15 K = 37 °C: 31015 = 0x00007927, low word first.
	if s := p.Decode(map[uint16]uint16{0x10: 0x7927, 0x11: 0}); s.Measured < 36.99 || s.Measured > 37.01 {
		t.Errorf("measured %v, want 37", s.Measured)
	}
}
