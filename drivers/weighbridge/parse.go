package weighbridge

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Line is one line of a weighing indicator's continuous output, as in
// "ST,GS,+0012345kg": stability, what is weighed, the signed value and its
// unit. Value is nil when an overloaded indicator sends no number.
type Line struct {
	State string   // stable, unstable or overload
	Mode  string   // gross, net or tare
	Value *float64 // as displayed, in Unit
	Unit  string   // kg, t or lb
}

// maxLine bounds a line: the format is 16 to 20 bytes; anything much
// longer is noise.
const maxLine = 40

var (
	states = map[string]string{"ST": "stable", "US": "unstable", "OL": "overload"}
	modes  = map[string]string{"GS": "gross", "NT": "net", "TR": "tare"}
	// kilograms per unit
	units = map[string]float64{"kg": 1, "t": 1000, "lb": 0.45359237}
)

// ParseLine reads one line (without its CR LF). The format is written out
// by hand rather than with a grammar (internal/grammar): it is three fixed
// fields, and the value's sign, decimal point and unit need checks a
// pattern alone would not give.
func ParseLine(s string) (Line, error) {
	var l Line
	if len(s) > maxLine {
		return l, fmt.Errorf("%d bytes: longer than a weight line (%d)", len(s), maxLine)
	}
	parts := strings.Split(strings.TrimSpace(s), ",")
	if len(parts) != 3 {
		return l, fmt.Errorf("%d comma-separated fields, want 3 (state,mode,value unit)", len(parts))
	}
	var ok bool
	if l.State, ok = states[strings.TrimSpace(parts[0])]; !ok {
		return l, fmt.Errorf("state %q: want ST, US or OL", printable(parts[0]))
	}
	if l.Mode, ok = modes[strings.TrimSpace(parts[1])]; !ok {
		return l, fmt.Errorf("mode %q: want GS, NT or TR", printable(parts[1]))
	}
	data := strings.TrimSpace(parts[2])
	i := strings.IndexFunc(data, func(r rune) bool { return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' })
	if i < 0 {
		return l, errors.New("no unit after the value (kg, t or lb)")
	}
	num, unit := strings.TrimSpace(data[:i]), strings.ToLower(strings.TrimSpace(data[i:]))
	if _, ok := units[unit]; !ok {
		return l, fmt.Errorf("unit %q: want kg, t or lb", printable(data[i:]))
	}
	l.Unit = unit
	v, err := value(num)
	if err != nil {
		if l.State == "overload" {
			return l, nil // an overloaded indicator may send no number
		}
		return l, err
	}
	if math.Abs(Kg(v, unit)) >= 1e9 {
		return l, fmt.Errorf("value %q %s: beyond any weighbridge", printable(num), unit)
	}
	l.Value = &v
	return l, nil
}

// value reads a sign and up to 9 digits with at most one decimal point.
func value(s string) (float64, error) {
	if s == "" {
		return 0, errors.New("no value")
	}
	if s[0] != '+' && s[0] != '-' {
		return 0, fmt.Errorf("value %q: no sign (+ or -)", printable(s))
	}
	digits, dots := 0, 0
	for _, c := range s[1:] {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return 0, fmt.Errorf("value %q: not a number", printable(s))
		}
	}
	if digits == 0 || digits > 9 || dots > 1 {
		return 0, fmt.Errorf("value %q: want a sign and 1 to 9 digits, at most one point", printable(s))
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("value %q: %v", printable(s), err)
	}
	if v == 0 {
		v = 0 // -0 is shown as 0
	}
	return v, nil
}

// Kg converts a value in unit to kilograms, to the gram.
func Kg(v float64, unit string) float64 {
	return math.Round(v*units[unit]*1000) / 1000
}

// printable keeps an error message readable whatever the line held.
func printable(s string) string {
	if len(s) > 16 {
		s = s[:16] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
