package weighbridge

import (
	"strings"
	"testing"
)

func TestParseLine(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	good := []struct {
		in   string
		want Line
	}{
		{"ST,GS,+0012345kg", Line{"stable", "gross", f(12345), "kg"}},
		{"US,NT,-0000120kg", Line{"unstable", "net", f(-120), "kg"}},
		{"ST,TR,+0014500 kg", Line{"stable", "tare", f(14500), "kg"}},
		{"ST,GS,+038.000  t", Line{"stable", "gross", f(38), "t"}},
		{"ST,GS,+0083776LB", Line{"stable", "gross", f(83776), "lb"}},
		{"ST,GS,-0000000kg", Line{"stable", "gross", f(0), "kg"}},
		{"OL,GS,+9999999kg", Line{"overload", "gross", f(9999999), "kg"}},
		{"OL,GS,        kg", Line{"overload", "gross", nil, "kg"}},
		{" ST,GS,+1kg ", Line{"stable", "gross", f(1), "kg"}},
	}
	for _, c := range good {
		got, err := ParseLine(c.in)
		if err != nil || got.String() != c.want.String() {
			t.Errorf("ParseLine(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, want string }{
		{"", "1 comma-separated fields"},
		{"ST,GS", "2 comma-separated fields"},
		{"XX,GS,+0012345kg", `state "XX"`},
		{"ST,GG,+0012345kg", `mode "GG"`},
		{"ST,GS,0012345kg", "no sign"},
		{"ST,GS,+0012345", "no unit"},
		{"ST,GS,+0012345oz", `unit "oz"`},
		{"ST,GS,+00123.4.5kg", "at most one point"},
		{"ST,GS,+kg", "1 to 9 digits"},
		{"ST,GS,+0123456789kg", "1 to 9 digits"},
		{"ST,GS,+12 34kg", "not a number"},
		{"ST,GS,+1kg,extra", "4 comma-separated fields"},
		{"ST,GS,+\x00\x01kg", `value "+??"`},
		{"ST,GS,+999999999t", "beyond any weighbridge"},
		{strings.Repeat("9", 41), "longer than a weight line"},
	}
	for _, c := range bad {
		if _, err := ParseLine(c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseLine(%q) error %v, want one containing %q", c.in, err, c.want)
		}
	}
}

func TestKg(t *testing.T) {
	for _, c := range []struct {
		v    float64
		unit string
		want float64
	}{{12.345, "t", 12345}, {83776, "lb", 38000.154}, {-120, "kg", -120}, {0.001, "t", 1}} {
		if got := Kg(c.v, c.unit); got != c.want {
			t.Errorf("Kg(%v, %s) = %v, want %v", c.v, c.unit, got, c.want)
		}
	}
}
