// Package regmap holds Modbus thermometers' register maps as data (which
// registers hold what, how wide, scaled how, in which unit, what the
// status bits mean): the built-in maps of the field guide and the custom
// ones a box config declares under `profiles:`, decoded with errors at
// their line. A map plans the poll's requests and turns the registers read
// into a screening sample.
package regmap

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/drivers/thermometer/screening"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/modbus"
)

// A Profile is a Modbus thermometer's register map, as data: which
// registers hold what, how wide, signed or not, scaled how, in which unit,
// and what the status bits mean. Built-in profiles cover the families in the
// field guide; a box config adds its own under `profiles:`.
type Profile struct {
	name       string
	function   byte
	unit       string // C, F or K: the unit of object and housing
	object     field
	housing    *field
	humidity   *field
	emissivity *field
	status     *statusReg
	mergeGap   int // registers of unused map read to save a request
}

type field struct {
	reg      uint16
	width    int // 16 or 32 bits
	signed   bool
	scale    float64
	lowFirst bool // 32-bit value with the low word in the first register
}

type statusReg struct {
	reg  uint16
	bits []statusBit
}

type statusBit struct {
	bit  int
	name string
	bad  bool // set means the measurement cannot be used
}

// pyrometerBits are the status bits of the Calex PyroUSB map, which the
// Omega OS-MINI shares.
func pyrometerBits() []statusBit {
	return []statusBit{
		{0, "measurement_error", true},
		{1, "sensor_too_low", true},
		{2, "sensor_too_high", true},
		{3, "object_too_low", true},
		{4, "object_too_high", true},
	}
}

func tenths(reg uint16) field { return field{reg: reg, width: 16, signed: true, scale: 0.1} }

// Builtin are the register maps of the field guide, "Thermometers",
// built afresh for each caller.
func Builtin() map[string]Profile {
	ps := map[string]Profile{
		"calex-pyrousb": {
			function: modbus.ReadHoldingRegisters, unit: "C", mergeGap: 3,
			object: tenths(0x12), housing: ptr(tenths(0x14)),
			emissivity: &field{reg: 0x08, width: 16, scale: 0.0001},
			status:     &statusReg{reg: 0x15, bits: pyrometerBits()},
		},
		"omega-os-mini": {
			function: modbus.ReadHoldingRegisters, unit: "C", mergeGap: 3,
			object: tenths(0x0E), housing: ptr(tenths(0x10)),
			status: &statusReg{reg: 0x11, bits: pyrometerBits()},
		},
		// XY-MD02 / SHT20 RS-485 sensors: input registers, temperature ×10.
		"xy-md02": {
			function: modbus.ReadInputRegisters, unit: "C", mergeGap: 3,
			object: tenths(1), humidity: &field{reg: 2, width: 16, scale: 0.1},
		},
		// Some XY-MD02 firmware scales temperature and humidity ×100.
		"xy-md02-x100": {
			function: modbus.ReadInputRegisters, unit: "C", mergeGap: 3,
			object:   field{reg: 1, width: 16, signed: true, scale: 0.01},
			humidity: &field{reg: 2, width: 16, scale: 0.01},
		},
	}
	for name, p := range ps {
		p.name = name
		ps[name] = p
	}
	return ps
}

func ptr[T any](v T) *T { return &v }

// Config forms of a custom profile (decoded strictly, node by node, so
// every mistake names its line).
type profileYAML struct {
	Function   string    `yaml:"function"` // holding | input
	Unit       string    `yaml:"unit"`     // C (default) | F | K
	MergeGap   *int      `yaml:"merge_gap"`
	Object     yaml.Node `yaml:"object"`
	Housing    yaml.Node `yaml:"housing"`
	Humidity   yaml.Node `yaml:"humidity"`
	Emissivity yaml.Node `yaml:"emissivity"`
	Status     yaml.Node `yaml:"status"`
}

type fieldYAML struct {
	Register  *int     `yaml:"register"`
	Width     int      `yaml:"width"`
	Signed    bool     `yaml:"signed"`
	Scale     *float64 `yaml:"scale"`
	WordOrder string   `yaml:"word_order"` // high_first (default) | low_first
}

type statusYAML struct {
	Register *int      `yaml:"register"`
	Bits     yaml.Node `yaml:"bits"`
}

type bitYAML struct {
	Bit  *int   `yaml:"bit"`
	Name string `yaml:"name"`
	Bad  *bool  `yaml:"bad"`
}

// Decode reads a `profiles:` mapping of name -> Profile (n may be nil:
// none). A name of a built-in map is refused.
func Decode(o device.Options, n *yaml.Node) (map[string]Profile, error) {
	out := map[string]Profile{}
	builtin := Builtin()
	if n == nil || n.Kind == 0 {
		return out, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, o.ErrorAt(n, "profiles", "must be a mapping of profile name to register map")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, body := n.Content[i].Value, n.Content[i+1]
		at := "profiles." + name
		if _, clash := builtin[name]; clash {
			return nil, o.ErrorAt(n.Content[i], at, "%q is a built-in profile; give yours another name", name)
		}
		p, err := decodeProfile(o, body, at)
		if err != nil {
			return nil, err
		}
		p.name = name
		out[name] = p
	}
	return out, nil
}

func decodeProfile(o device.Options, n *yaml.Node, at string) (Profile, error) {
	var y profileYAML
	if err := o.DecodeAt(n, at, &y); err != nil {
		return Profile{}, err
	}
	p := Profile{unit: "C", mergeGap: 0}
	switch y.Function {
	case "holding", "03", "3":
		p.function = modbus.ReadHoldingRegisters
	case "input", "04", "4":
		p.function = modbus.ReadInputRegisters
	default:
		return p, o.ErrorAt(device.Child(n, "function"), at+".function", "%q: want holding (function 03) or input (function 04)", y.Function)
	}
	switch y.Unit {
	case "", "C":
	case "F", "K":
		p.unit = y.Unit
	default:
		return p, o.ErrorAt(device.Child(n, "unit"), at+".unit", "%q: want C, F or K", y.Unit)
	}
	if y.MergeGap != nil {
		if *y.MergeGap < 0 || *y.MergeGap > 16 {
			return p, o.ErrorAt(device.Child(n, "merge_gap"), at+".merge_gap", "want 0 to 16 registers")
		}
		p.mergeGap = *y.MergeGap
	}
	if y.Object.Kind == 0 {
		return p, o.ErrorAt(n, at+".object", "missing: the register holding the temperature to screen")
	}
	var err error
	if p.object, err = decodeField(o, &y.Object, at+".object"); err != nil {
		return p, err
	}
	for _, f := range []struct {
		node *yaml.Node
		name string
		dst  **field
	}{{&y.Housing, "housing", &p.housing}, {&y.Humidity, "humidity", &p.humidity}, {&y.Emissivity, "emissivity", &p.emissivity}} {
		if f.node.Kind == 0 {
			continue
		}
		v, err := decodeField(o, f.node, at+"."+f.name)
		if err != nil {
			return p, err
		}
		*f.dst = &v
	}
	if y.Status.Kind != 0 {
		if p.status, err = decodeStatus(o, &y.Status, at+".status"); err != nil {
			return p, err
		}
	}
	if _, err := p.Requests(1); err != nil {
		return p, o.ErrorAt(n, at, "%v", err)
	}
	return p, nil
}

func decodeField(o device.Options, n *yaml.Node, at string) (field, error) {
	var y fieldYAML
	if err := o.DecodeAt(n, at, &y); err != nil {
		return field{}, err
	}
	f := field{width: 16, signed: y.Signed, scale: 1}
	if y.Register == nil {
		return f, o.ErrorAt(n, at+".register", "missing (the protocol address, from 0; hex like 0x12 is fine)")
	}
	if *y.Register < 0 || *y.Register > 0xFFFF {
		return f, o.ErrorAt(device.Child(n, "register"), at+".register", "%d: want 0 to 0xffff", *y.Register)
	}
	f.reg = uint16(*y.Register)
	switch y.Width {
	case 0, 16:
	case 32:
		f.width = 32
	default:
		return f, o.ErrorAt(device.Child(n, "width"), at+".width", "%d: want 16 or 32 bits", y.Width)
	}
	if y.Scale != nil {
		if *y.Scale == 0 {
			return f, o.ErrorAt(device.Child(n, "scale"), at+".scale", "must not be 0")
		}
		f.scale = *y.Scale
	}
	switch y.WordOrder {
	case "", "high_first":
	case "low_first":
		f.lowFirst = true
	default:
		return f, o.ErrorAt(device.Child(n, "word_order"), at+".word_order", "%q: want high_first or low_first", y.WordOrder)
	}
	if f.width == 32 && f.reg == 0xFFFF {
		return f, o.ErrorAt(device.Child(n, "register"), at+".register", "a 32-bit value needs two registers; 0xffff is the last")
	}
	if f.width == 16 && y.WordOrder != "" {
		return f, o.ErrorAt(device.Child(n, "word_order"), at+".word_order", "only for width 32")
	}
	return f, nil
}

func decodeStatus(o device.Options, n *yaml.Node, at string) (*statusReg, error) {
	var y statusYAML
	if err := o.DecodeAt(n, at, &y); err != nil {
		return nil, err
	}
	if y.Register == nil || *y.Register < 0 || *y.Register > 0xFFFF {
		return nil, o.ErrorAt(device.Child(n, "register"), at+".register", "missing or not 0 to 0xffff")
	}
	s := &statusReg{reg: uint16(*y.Register)}
	if y.Bits.Kind != yaml.SequenceNode || len(y.Bits.Content) == 0 {
		return nil, o.ErrorAt(device.Child(n, "bits"), at+".bits", "want a list of {bit, name, bad}")
	}
	seen := map[int]bool{}
	for i, bn := range y.Bits.Content {
		bat := fmt.Sprintf("%s.bits[%d]", at, i)
		var b bitYAML
		if err := o.DecodeAt(bn, bat, &b); err != nil {
			return nil, err
		}
		if b.Bit == nil || *b.Bit < 0 || *b.Bit > 15 || seen[*b.Bit] {
			return nil, o.ErrorAt(bn, bat+".bit", "missing, repeated or not 0 to 15")
		}
		if b.Name == "" {
			return nil, o.ErrorAt(bn, bat+".name", "missing: the name readings show when the bit is set")
		}
		seen[*b.Bit] = true
		s.bits = append(s.bits, statusBit{bit: *b.Bit, name: b.Name, bad: b.Bad == nil || *b.Bad})
	}
	return s, nil
}

// regs lists every register the profile reads.
func (p Profile) regs() []uint16 {
	var out []uint16
	add := func(f *field) {
		if f == nil {
			return
		}
		out = append(out, f.reg)
		if f.width == 32 {
			out = append(out, f.reg+1)
		}
	}
	add(&p.object)
	add(p.housing)
	add(p.humidity)
	add(p.emissivity)
	if p.status != nil {
		out = append(out, p.status.reg)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return slices.Compact(out)
}

// Requests groups the profile's registers into as few reads as the map
// allows: neighbours within mergeGap share one request.
func (p Profile) Requests(slave byte) ([]modbus.Request, error) {
	rs := p.regs()
	var out []modbus.Request
	for _, r := range rs {
		if n := len(out); n > 0 {
			last := &out[n-1]
			end := int(last.Address) + int(last.Quantity)
			if int(r) < end {
				continue
			}
			if int(r)-end <= p.mergeGap && int(r)-int(last.Address)+1 <= 125 {
				last.Quantity = uint16(int(r) - int(last.Address) + 1)
				continue
			}
		}
		out = append(out, modbus.Request{Slave: slave, Function: p.function, Address: r, Quantity: 1})
	}
	for _, q := range out {
		if err := q.Validate(); err != nil && slave != 0 {
			return nil, err
		}
	}
	return out, nil
}

// Decode turns the registers read (by address) into a sample.
func (p Profile) Decode(regs map[uint16]uint16) screening.Sample {
	s := screening.Sample{Measured: p.temp(p.object.value(regs))}
	if p.housing != nil {
		s.Housing = ptr(p.temp(p.housing.value(regs)))
	}
	if p.humidity != nil {
		s.Humidity = ptr(p.humidity.value(regs))
	}
	if p.emissivity != nil {
		s.Emissivity = ptr(p.emissivity.value(regs))
	}
	if p.status != nil {
		v := regs[p.status.reg]
		for _, b := range p.status.bits {
			if v&(1<<b.bit) != 0 {
				s.Status = append(s.Status, b.name)
				s.BadStatus = s.BadStatus || b.bad
			}
		}
	}
	return s
}

func (f field) value(regs map[uint16]uint16) float64 {
	if f.width == 16 {
		v := regs[f.reg]
		if f.signed {
			return float64(int16(v)) * f.scale
		}
		return float64(v) * f.scale
	}
	hi, lo := regs[f.reg], regs[f.reg+1]
	if f.lowFirst {
		hi, lo = lo, hi
	}
	v := uint32(hi)<<16 | uint32(lo)
	if f.signed {
		return float64(int32(v)) * f.scale
	}
	return float64(v) * f.scale
}

func (p Profile) temp(v float64) float64 {
	switch p.unit {
	case "F":
		return (v - 32) * 5 / 9
	case "K":
		return v - 273.15
	}
	return v
}

// Name is the map's name (built in, or its key under profiles:).
func (p Profile) Name() string { return p.name }

// HasHousing says whether the map reports the housing temperature, which
// ambient compensation needs.
func (p Profile) HasHousing() bool { return p.housing != nil }

// Names lists the built-in maps and custom's, sorted, for an error message.
func Names(custom map[string]Profile) string {
	var names []string
	for n := range Builtin() {
		names = append(names, n)
	}
	for n := range custom {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
