// Package checkdigit computes the check digits of ICAO 9303 machine
// readable zones and knows which characters OCR confuses with which.
package checkdigit

// charValue is the ICAO 9303 value of an MRZ character: '<' = 0, '0'-'9' as
// is, 'A'-'Z' = 10-35. Every other byte is -1 (not an MRZ character).
var charValue = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	t['<'] = 0
	for c := '0'; c <= '9'; c++ {
		t[c] = int8(c - '0')
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = int8(c-'A') + 10
	}
	return t
}()

var weights = [3]int{7, 3, 1}

// Of computes the ICAO 9303 check digit of s: '<' counts 0, digits as is,
// A-Z count 10-35; the values are weighted 7, 3, 1 repeating and summed
// modulo 10. The digit is returned as the ASCII character '0'-'9', ready
// to compare with the character read in the MRZ:
//
//	Of("520727")    // '3', true
//	Of("AB2134<<<") // '5', true
//
// ok is false when s holds a byte outside 0-9, A-Z and '<' (lower case
// included); the digit is then 0.
func Of(s string) (digit byte, ok bool) {
	var sum Sum
	sum.Add(s)
	return sum.Digit()
}

// Sum is a check digit computed over several parts (a field split across
// a row, the composite over several fields) without joining them.
type Sum struct {
	sum, n int
	bad    bool
}

// Add takes the next characters of the input.
func (s *Sum) Add(part string) {
	for i := 0; i < len(part); i++ {
		v := charValue[part[i]]
		if v < 0 {
			s.bad = true
			return
		}
		s.sum += int(v) * weights[s.n%3]
		s.n++
	}
}

// Digit is the check digit of everything added; ok is false when a
// character was not an MRZ character.
func (s *Sum) Digit() (digit byte, ok bool) {
	if s.bad {
		return 0, false
	}
	return byte('0' + s.sum%10), true
}

// confusion maps each character to the one OCR most often mistakes it for:
// O<->0, I<->1, B<->8, S<->5, Z<->2, K<-><. Zero means none.
var confusion = func() (t [256]byte) {
	for _, p := range [][2]byte{{'O', '0'}, {'I', '1'}, {'B', '8'}, {'S', '5'}, {'Z', '2'}, {'K', '<'}} {
		t[p[0]], t[p[1]] = p[1], p[0]
	}
	return t
}()

// Confusion is the character OCR most often mistakes c for (O<->0, I<->1,
// B<->8, S<->5, Z<->2, K<-><), or 0 for none.
func Confusion(c byte) byte { return confusion[c] }
