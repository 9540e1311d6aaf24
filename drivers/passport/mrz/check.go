package mrz

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

// CheckDigit computes the ICAO 9303 check digit of s: '<' counts 0, digits
// as is, A-Z count 10-35; the values are weighted 7, 3, 1 repeating and
// summed modulo 10. The digit is returned as the ASCII character '0'-'9',
// ready to compare with the character read in the MRZ:
//
//	CheckDigit("520727")    // '3', true
//	CheckDigit("AB2134<<<") // '5', true
//
// ok is false when s holds a byte outside 0-9, A-Z and '<' (lower case
// included); the digit is then 0.
func CheckDigit(s string) (digit byte, ok bool) {
	sum := 0
	for i := 0; i < len(s); i++ {
		v := charValue[s[i]]
		if v < 0 {
			return 0, false
		}
		sum += int(v) * weights[i%3]
	}
	return byte('0' + sum%10), true
}

// spanDigit is CheckDigit over a sequence of row spans, without building the
// concatenated string.
func spanDigit(rows []string, spans []span) (byte, bool) {
	sum, i := 0, 0
	for _, sp := range spans {
		row := rows[sp.row]
		for p := sp.start; p < sp.end; p++ {
			v := charValue[row[p]]
			if v < 0 {
				return 0, false
			}
			sum += int(v) * weights[i%3]
			i++
		}
	}
	return byte('0' + sum%10), true
}

// confusion maps each character to the one OCR most often mistakes it for:
// O<->0, I<->1, B<->8, S<->5, Z<->2, K<-><. Zero means none.
var confusion = func() (t [256]byte) {
	for _, p := range [][2]byte{{'O', '0'}, {'I', '1'}, {'B', '8'}, {'S', '5'}, {'Z', '2'}, {'K', '<'}} {
		t[p[0]], t[p[1]] = p[1], p[0]
	}
	return t
}()
