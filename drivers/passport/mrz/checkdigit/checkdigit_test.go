package checkdigit

import "testing"

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want byte
		ok   bool
	}{
		{"520727", '3', true},    // ICAO example
		{"AB2134<<<", '5', true}, // ICAO example
		{"L898902C3", '6', true},
		{"740812", '2', true},
		{"120415", '9', true},
		{"ZE184226B<<<<<", '1', true},
		{"L898902C3674081221204159ZE184226B<<<<<1", '0', true},
		{"", '0', true},
		{"<<<<<<<<<<<<<<", '0', true},
		{"abc", 0, false},
		{"12 4", 0, false},
		{"ÄB", 0, false},
	} {
		got, ok := Of(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Of(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// A Sum over parts is the digit of the parts joined: a field split across
// positions (a long document number, the composite) needs no joined copy.
func TestSumOverParts(t *testing.T) {
	parts := []string{"L898902C3", "6", "7408122", "1204159", "ZE184226B<<<<<1"}
	var s Sum
	joined := ""
	for _, p := range parts {
		s.Add(p)
		joined += p
	}
	got, ok := s.Digit()
	want, _ := Of(joined)
	if !ok || got != want || got != '0' {
		t.Errorf("Sum over parts = %q, %v; Of joined = %q", got, ok, want)
	}
	var bad Sum
	bad.Add("AB")
	bad.Add("c")
	bad.Add("12")
	if _, ok := bad.Digit(); ok {
		t.Error("a lower-case letter in a part must fail the digit")
	}
}

func TestConfusionIsSymmetric(t *testing.T) {
	for _, c := range []byte("OI BSZK0185 2<") {
		if to := Confusion(c); to != 0 && Confusion(to) != c {
			t.Errorf("%q -> %q -> %q", c, to, Confusion(to))
		}
	}
	if Confusion('A') != 0 {
		t.Error("A has no usual confusion")
	}
}
