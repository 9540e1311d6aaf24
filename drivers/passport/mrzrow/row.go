// Package mrzrow says what a line must look like to be a row of a machine
// readable zone (ICAO 9303) before it is decoded, and groups single rows
// into documents. The framers (package framing) and the driver's session
// both use it: a framer to drop noise, the session to group line and
// wedge rows.
package mrzrow

import (
	"bytes"
	"strings"
)

// Plausible says whether a line could be an MRZ row: a row length of some
// format and printable ASCII only. OCR misreads stay printable; control
// bytes and binary mean noise.
func Plausible(b []byte) bool {
	if PerDocument(len(b)) == 0 {
		return false
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// PerDocument is how many rows a document has whose rows are n long: 3 of 30
// (TD1), 2 of 36 (TD2, MRV-B) or 2 of 44 (TD3, MRV-A); 0 for no format.
func PerDocument(n int) int {
	switch n {
	case 30:
		return 3
	case 36, 44:
		return 2
	}
	return 0
}

// Trim drops the spaces and tabs some readers pad a row with: an MRZ
// never holds either.
func Trim(b []byte) []byte { return bytes.Trim(b, " \t") }

// SplitOneLine splits a whole document sent as one line (readers set to "no
// row separator": 88 = 2×44, 72 = 2×36, 90 = 3×30 characters) into its
// rows, when the first row looks like one. ok is false for anything else.
func SplitOneLine(b []byte) (rows []string, ok bool) {
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
	if !Chars(b) || !First(string(b[:n])) {
		return nil, false
	}
	for i := 0; i < len(b); i += n {
		rows = append(rows, string(b[i:i+n]))
	}
	return rows, true
}

// Chars says whether b holds only the MRZ character set (A-Z, 0-9, <).
func Chars(b []byte) bool {
	for _, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '<') {
			return false
		}
	}
	return true
}

// First says whether a row can be the first row of a document (ICAO
// 9303): a document code (P passports, V visas, I/A/C identity cards),
// then letters or fillers for the rest of the code and the issuer. The
// first row of a TD1 holds the document number (digits); the first row of
// a TD2, TD3 or visa holds only the code, the issuer and the name, never a
// digit, while every later row holds dates and check digits. So rows of
// two documents are never paired into one.
func First(r string) bool {
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
