package passport

import (
	"bytes"
	"strings"
	"time"
)

// A framer cuts a reader's byte stream into units. It is pure (bytes and
// times in, units out) so each framing can be fuzzed and benchmarked on
// its own; the driver owns the port, the clock and the row assembler.
//
// Every framer follows the same rules: bytes that are not part of a frame
// are counted (never fatal, never an error), a frame that stops arriving
// for longer than idle is torn and counted, and what a frame held is never
// logged or counted by content.
type framer interface {
	// feed takes bytes that arrived at time at and appends the units they
	// completed to dst.
	feed(dst []unit, b []byte, at time.Time) []unit
	// expire tears a partial frame whose last byte is older than idle.
	expire(dst []unit, now time.Time) []unit
	// end is the end of the stream: a partial frame is torn (a line
	// framer returns a last line without its terminator as a line).
	end(dst []unit) []unit
}

// unit is what a framer produced.
type unit struct {
	rows []string
	at   time.Time // arrival of the frame's first byte
	end  time.Time // arrival of its last byte (line rows)
	// block is true when rows are one whole transmission (stx, 3m): a
	// complete document, or a failed read. Line and wedge rows are single
	// rows that the assembler groups into documents.
	block bool
	// fail is set for a block that is a failed read ("incomplete",
	// "block_check"); rows may hold what was read before it failed.
	fail string
}

// counter is told about discarded input by a stable name.
type counter func(what string, n int)

func (c counter) add(what string, n int) {
	if c != nil && n > 0 {
		c(what, n)
	}
}

// mrzRow says whether a line could be an MRZ row: a row length of some
// format and printable ASCII only. OCR misreads stay printable; control
// bytes and binary mean noise.
func mrzRow(b []byte) bool {
	if rowsFor(len(b)) == 0 {
		return false
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// rowsFor is how many rows a document has whose rows are n long: 3 of 30
// (TD1), 2 of 36 (TD2, MRV-B) or 2 of 44 (TD3, MRV-A); 0 for no format.
func rowsFor(n int) int {
	switch n {
	case 30:
		return 3
	case 36, 44:
		return 2
	}
	return 0
}

// trimLine drops the spaces and tabs some readers pad a row with: an MRZ
// never holds either.
func trimLine(b []byte) []byte { return bytes.Trim(b, " \t") }

// oneLine splits a whole document sent as one line (readers set to "no
// row separator": 88 = 2×44, 72 = 2×36, 90 = 3×30 characters) into its
// rows, when the first row looks like one. ok is false for anything else.
func oneLine(b []byte) (rows []string, ok bool) {
	var n int
	switch len(b) {
	case 88:
		n = 44
	case 72:
		n = 36
	case 90:
		n = 30
	default:
		return nil, false
	}
	if !mrzChars(b) || !firstRow(string(b[:n])) {
		return nil, false
	}
	for i := 0; i < len(b); i += n {
		rows = append(rows, string(b[i:i+n]))
	}
	return rows, true
}

// mrzChars says whether b holds only the MRZ character set (A-Z, 0-9, <).
func mrzChars(b []byte) bool {
	for _, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '<') {
			return false
		}
	}
	return true
}

// firstRow says whether a row can be the first row of a document (ICAO
// 9303): a document code (P passports, V visas, I/A/C identity cards),
// then letters or fillers for the rest of the code and the issuer. The
// first row of a TD1 holds the document number (digits); the first row of
// a TD2, TD3 or visa holds only the code, the issuer and the name, never a
// digit, while every later row holds dates and check digits. So rows of
// two documents are never paired into one.
func firstRow(r string) bool {
	if len(r) < 5 {
		return false
	}
	switch r[0] {
	case 'P', 'V', 'I', 'A', 'C':
	default:
		return false
	}
	for _, c := range []byte(r[1:5]) {
		if !(c >= 'A' && c <= 'Z' || c == '<') {
			return false
		}
	}
	digits := strings.ContainsAny(r, "0123456789")
	if len(r) == 30 {
		return r[0] != 'P' && digits
	}
	return !digits
}
