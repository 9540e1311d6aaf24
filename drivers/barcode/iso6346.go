package barcode

import (
	"fmt"
	"strings"
)

// Container is an ISO 6346 freight container identification.
type Container struct {
	Owner    string `json:"owner"`    // owner code, 3 letters
	Category string `json:"category"` // equipment category: U, J or Z
	Serial   string `json:"serial"`   // 6 digits
	Check    int    `json:"check"`    // check digit as read
	Computed int    `json:"computed"` // check digit computed from the first 10 characters
	Valid    bool   `json:"valid"`
}

// letterValue is ISO 6346's letter numbering: A=10 upward, skipping the
// multiples of 11 (11, 22, 33).
func letterValue(c byte) int {
	v := 10 + int(c-'A')
	// each multiple of 11 at or below v pushes it up by one
	for m := 11; m <= v; m += 11 {
		v++
	}
	return v
}

// CheckDigit6346 computes the check digit of the 10-character owner code,
// category and serial: character i (0-based) weighs 2^i; the sum mod 11,
// with 10 written as 0.
func CheckDigit6346(s string) (int, error) {
	if len(s) != 10 {
		return 0, fmt.Errorf("iso6346: %d characters, want 10", len(s))
	}
	sum := 0
	for i := 0; i < 10; i++ {
		c := s[i]
		var v int
		switch {
		case i < 4 && c >= 'A' && c <= 'Z':
			v = letterValue(c)
		case i >= 4 && c >= '0' && c <= '9':
			v = int(c - '0')
		default:
			return 0, fmt.Errorf("iso6346: character %d %q not allowed there", i+1, c)
		}
		sum += v << i
	}
	d := sum % 11
	if d == 10 {
		d = 0
	}
	return d, nil
}

// ParseContainer reads a container number: 3 owner letters, a category
// letter (U, J, Z), 6 serial digits and a check digit. Spaces and hyphens
// between them are tolerated, as printed on doors. ok is false when the
// text does not have that shape (it is then not a container number); a
// wrong check digit gives a Container with Valid false, never an error.
func ParseContainer(s string) (c Container, ok bool) {
	s = strings.ToUpper(strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(s)))
	if len(s) != 11 {
		return Container{}, false
	}
	for i := 0; i < 11; i++ {
		ch := s[i]
		switch {
		case i < 3 && ch >= 'A' && ch <= 'Z':
		case i == 3 && (ch == 'U' || ch == 'J' || ch == 'Z'):
		case i >= 4 && ch >= '0' && ch <= '9':
		default:
			return Container{}, false
		}
	}
	computed, err := CheckDigit6346(s[:10])
	if err != nil {
		return Container{}, false
	}
	check := int(s[10] - '0')
	return Container{Owner: s[:3], Category: s[3:4], Serial: s[4:10], Check: check, Computed: computed, Valid: check == computed}, true
}
