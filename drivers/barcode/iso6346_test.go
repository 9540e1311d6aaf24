package barcode

import "testing"

func TestISO6346(t *testing.T) {
	for _, tc := range []struct {
		in        string
		shape, ok bool
		computed  int
	}{
		{"CSQU3054383", true, true, 3},
		{"CBHU3202732", true, true, 2},
		{"MSCU6639870", true, true, 0},
		{"MSKU1100810", true, false, -1},
		{"csqu 305438-3", true, true, 3},
		{"CSQU305438", false, false, 0},
		{"CSQX3054383", false, false, 0},
		{"C5QU3054383", false, false, 0},
		{"", false, false, 0},
	} {
		c, shape := ParseContainer(tc.in)
		if shape != tc.shape || c.Valid != tc.ok {
			t.Errorf("%q: shape %v valid %v, want %v %v (%+v)", tc.in, shape, c.Valid, tc.shape, tc.ok, c)
		}
		if tc.ok && c.Computed != tc.computed {
			t.Errorf("%q: computed %d, want %d", tc.in, c.Computed, tc.computed)
		}
	}
	// Letter values skip multiples of 11.
	for c, want := range map[byte]int{'A': 10, 'B': 12, 'K': 21, 'L': 23, 'U': 32, 'V': 34, 'Z': 38} {
		if got := letterValue(c); got != want {
			t.Errorf("letter %c = %d, want %d", c, got, want)
		}
	}
}

func FuzzParseContainer(f *testing.F) {
	for _, s := range []string{"CSQU3054383", "MSKU1100810", "csqu 305438-3", "", "ZZZZ9999999", "AAAU000000\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := ParseContainer(s)
		if !ok {
			return
		}
		if c.Computed < 0 || c.Computed > 9 || c.Check < 0 || c.Check > 9 || c.Valid != (c.Check == c.Computed) || len(c.Serial) != 6 {
			t.Fatalf("%q: inconsistent %+v", s, c)
		}
		// A valid number stays valid with its separators removed.
		again, ok2 := ParseContainer(c.Owner + c.Category + c.Serial + string(rune('0'+c.Check)))
		if !ok2 || again != c {
			t.Fatalf("%q: round trip %+v != %+v", s, again, c)
		}
	})
}
