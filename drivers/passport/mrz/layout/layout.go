// Package layout knows where each field and check digit of an ICAO 9303
// machine readable zone sits, per format (TD1, TD2, TD3, MRV-A, MRV-B),
// and evaluates every check digit of a set of rows.
package layout

import (
	"fmt"
	"strings"

	"github.com/kordon/kordon/drivers/passport/mrz/checkdigit"
)

// Format names an MRZ layout of ICAO Doc 9303.
type Format string

const (
	TD1  Format = "TD1"   // ID card: 3 rows of 30
	TD2  Format = "TD2"   // ID card / official travel document: 2 rows of 36
	TD3  Format = "TD3"   // passport: 2 rows of 44
	MRVA Format = "MRV-A" // visa, 2 rows of 44, document code 'V'
	MRVB Format = "MRV-B" // visa, 2 rows of 36, document code 'V'
)

// Names of the checked fields, as used in Check.Field, Candidate.Check and
// Quality reasons. They match the JSON names of the fields they check.
const (
	FieldNumber       = "number"
	FieldBirthDate    = "birth_date"
	FieldExpiryDate   = "expiry_date"
	FieldOptionalData = "optional_data" // TD3 personal number (positions 29-42)
	FieldComposite    = "composite"
)

// Detect picks the layout from the row count and lengths (bytes), and tells
// visas from TD2/TD3 by the document code's first character 'V'.
func Detect(rows []string) (Format, error) {
	switch len(rows) {
	case 3:
		if len(rows[0]) == 30 && len(rows[1]) == 30 && len(rows[2]) == 30 {
			return TD1, nil
		}
	case 2:
		visa := len(rows[0]) > 0 && rows[0][0] == 'V'
		switch {
		case len(rows[0]) == 36 && len(rows[1]) == 36:
			if visa {
				return MRVB, nil
			}
			return TD2, nil
		case len(rows[0]) == 44 && len(rows[1]) == 44:
			if visa {
				return MRVA, nil
			}
			return TD3, nil
		}
	}
	// Lengths only: the rows themselves are personal data and errors get logged.
	lens := make([]string, len(rows))
	for i, r := range rows {
		lens[i] = fmt.Sprint(len(r))
	}
	return "", fmt.Errorf("mrz: %d rows of lengths [%s] fit no layout (TD1 3x30, TD2/MRV-B 2x36, TD3/MRV-A 2x44)",
		len(rows), strings.Join(lens, " "))
}

// Span is a run of characters in one row: 0-based row, [start, end).
type Span struct{ Row, Start, End int }

// Has says whether the character at row, col is in s.
func (s Span) Has(row, col int) bool { return row == s.Row && col >= s.Start && col < s.End }

// Text is the characters of s in rows.
func (s Span) Text(rows []string) string { return rows[s.Row][s.Start:s.End] }

// Check is one check digit as laid out in a given set of rows.
type Check struct {
	Field string  // a Field name
	in    [4]Span // the characters the digit is computed over
	n     int     // spans used in in
	Digit Span    // the check digit's own position (one character)
	// emptyOK: the TD3 personal-number rule, '0' or '<' pass when every
	// input character is '<'.
	emptyOK bool

	Read, Computed byte // Computed is 0 when the input holds a non-MRZ character
	OK             bool
}

// Spans are the characters the digit is computed over.
func (c *Check) Spans() []Span { return c.in[:c.n] }

// Covers says whether the digit is computed over the character at row, col.
func (c *Check) Covers(row, col int) bool {
	for _, s := range c.Spans() {
		if s.Has(row, col) {
			return true
		}
	}
	return false
}

// CheckSet is every check digit of one document; fixed size so decoding
// the checks allocates nothing.
type CheckSet struct {
	c [5]Check
	n int
}

// All are the checks of the document's format.
func (cs *CheckSet) All() []Check { return cs.c[:cs.n] }

func (cs *CheckSet) add(field string, digit Span, in ...Span) {
	c := &cs.c[cs.n]
	cs.n++
	*c = Check{Field: field, Digit: digit}
	c.n = copy(c.in[:], in)
}

// Get is the check of field, nil when the format has none.
func (cs *CheckSet) Get(field string) *Check {
	for i := range cs.c[:cs.n] {
		if cs.c[i].Field == field {
			return &cs.c[i]
		}
	}
	return nil
}

// AllOK says whether every check passed.
func (cs *CheckSet) AllOK() bool {
	for _, c := range cs.All() {
		if !c.OK {
			return false
		}
	}
	return true
}

// numberLayout finds the document number of TD1 and TD2, applying the
// long-number rule: when the check position (span chk) holds '<' and the
// optional data (span opt) does not start with '<', the number goes on in
// the optional data up to the first '<'; the last character before that '<'
// is the number's check digit and the optional data proper starts after it.
//
// It returns the number's spans, its check digit's position and the span
// left to the optional data.
func numberLayout(rows []string, base, chk, opt Span) (num [2]Span, n int, digit, rest Span) {
	num[0], n, digit, rest = base, 1, chk, opt
	r := rows[chk.Row]
	if r[chk.Start] != '<' || r[opt.Start] == '<' {
		return
	}
	end := opt.Start
	for end < opt.End && r[end] != '<' {
		end++
	}
	// r[opt.Start:end] is the rest of the number plus its check digit.
	num[1] = Span{opt.Row, opt.Start, end - 1}
	n = 2
	digit = Span{opt.Row, end - 1, end}
	rest = Span{opt.Row, min(end+1, opt.End), opt.End}
	return
}

// Layout describes where the decoded fields sit for one document. Spans
// that a format lacks are zero (empty).
type Layout struct {
	Checks CheckSet

	Code, Issuer, Nationality, Sex, Name Span
	Birth, Expiry                        Span
	Number                               [2]Span // NumberN of them: a long number goes on in the optional data
	NumberN                              int
	Optional, Optional2                  Span
}

// Of maps the fields of rows (already of format f) and evaluates every
// check digit.
func Of(f Format, rows []string) (l Layout) {
	l.Code = Span{0, 0, 2}
	l.Issuer = Span{0, 2, 5}
	cs := &l.Checks
	switch f {
	case TD1:
		var numDigit Span
		l.Number, l.NumberN, numDigit, l.Optional = numberLayout(rows, Span{0, 5, 14}, Span{0, 14, 15}, Span{0, 15, 30})
		l.Birth, l.Sex, l.Expiry = Span{1, 0, 6}, Span{1, 7, 8}, Span{1, 8, 14}
		l.Nationality, l.Optional2, l.Name = Span{1, 15, 18}, Span{1, 18, 29}, Span{2, 0, 30}
		cs.add(FieldNumber, numDigit, l.Number[:l.NumberN]...)
		cs.add(FieldBirthDate, Span{1, 6, 7}, l.Birth)
		cs.add(FieldExpiryDate, Span{1, 14, 15}, l.Expiry)
		cs.add(FieldComposite, Span{1, 29, 30}, Span{0, 5, 30}, Span{1, 0, 7}, Span{1, 8, 15}, Span{1, 18, 29})
	default: // TD2, TD3, MRV-A, MRV-B share row 2 up to position 28
		width := len(rows[0])
		var numDigit Span
		if f == TD2 {
			l.Number, l.NumberN, numDigit, l.Optional = numberLayout(rows, Span{1, 0, 9}, Span{1, 9, 10}, Span{1, 28, 35})
		} else {
			l.Number[0], l.NumberN, numDigit = Span{1, 0, 9}, 1, Span{1, 9, 10}
		}
		l.Name = Span{0, 5, width}
		l.Nationality, l.Birth, l.Sex, l.Expiry = Span{1, 10, 13}, Span{1, 13, 19}, Span{1, 20, 21}, Span{1, 21, 27}
		cs.add(FieldNumber, numDigit, l.Number[:l.NumberN]...)
		cs.add(FieldBirthDate, Span{1, 19, 20}, l.Birth)
		cs.add(FieldExpiryDate, Span{1, 27, 28}, l.Expiry)
		switch f {
		case TD2:
			cs.add(FieldComposite, Span{1, 35, 36}, Span{1, 0, 10}, Span{1, 13, 20}, Span{1, 21, 35})
		case TD3:
			l.Optional = Span{1, 28, 42}
			cs.add(FieldOptionalData, Span{1, 42, 43}, l.Optional)
			cs.c[cs.n-1].emptyOK = true
			cs.add(FieldComposite, Span{1, 43, 44}, Span{1, 0, 10}, Span{1, 13, 20}, Span{1, 21, 43})
		case MRVA, MRVB:
			l.Optional = Span{1, 28, width}
		}
	}
	for i := range cs.All() {
		evaluate(&cs.c[i], rows)
	}
	return l
}

func evaluate(c *Check, rows []string) {
	c.Read = rows[c.Digit.Row][c.Digit.Start]
	var sum checkdigit.Sum
	for _, sp := range c.Spans() {
		sum.Add(sp.Text(rows))
	}
	d, ok := sum.Digit()
	if !ok {
		c.Computed, c.OK = 0, false
		return
	}
	c.Computed = d
	c.OK = c.Read == d
	if !c.OK && c.emptyOK && c.Read == '<' && d == '0' {
		// ICAO 9303-4: when the personal number is all '<', its check
		// digit may be '<' as well as '0'. d is '0' exactly when the
		// input is all '<' or weighs to 0 mod 10, so confirm it.
		c.OK = allFiller(rows, c.Spans())
	}
}

func allFiller(rows []string, spans []Span) bool {
	for _, s := range spans {
		if strings.Trim(s.Text(rows), "<") != "" {
			return false
		}
	}
	return true
}
