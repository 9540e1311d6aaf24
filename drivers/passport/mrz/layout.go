package mrz

import (
	"fmt"
	"strings"
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

// detect picks the layout from the row count and lengths (bytes), and tells
// visas from TD2/TD3 by the document code's first character 'V'.
func detect(rows []string) (Format, error) {
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

// span is a run of characters in one row: 0-based row, [start, end).
type span struct{ row, start, end int }

func (s span) has(row, col int) bool { return row == s.row && col >= s.start && col < s.end }

func (s span) text(rows []string) string { return rows[s.row][s.start:s.end] }

// check is one check digit as laid out in a given set of rows.
type check struct {
	field string
	in    [4]span // the characters the digit is computed over
	n     int     // spans used in in
	digit span    // the check digit's own position (one character)
	// emptyOK: the TD3 personal-number rule, '0' or '<' pass when every
	// input character is '<'.
	emptyOK bool

	read, computed byte // computed is 0 when the input holds a non-MRZ character
	ok             bool
}

func (c *check) spans() []span { return c.in[:c.n] }

func (c *check) covers(row, col int) bool {
	for _, s := range c.spans() {
		if s.has(row, col) {
			return true
		}
	}
	return false
}

// checkSet is every check digit of one document; fixed size so decoding
// the checks allocates nothing.
type checkSet struct {
	c [5]check
	n int
}

func (cs *checkSet) all() []check { return cs.c[:cs.n] }

func (cs *checkSet) add(field string, digit span, in ...span) {
	c := &cs.c[cs.n]
	cs.n++
	*c = check{field: field, digit: digit}
	c.n = copy(c.in[:], in)
}

func (cs *checkSet) get(field string) *check {
	for i := range cs.c[:cs.n] {
		if cs.c[i].field == field {
			return &cs.c[i]
		}
	}
	return nil
}

func (cs *checkSet) allOK() bool {
	for _, c := range cs.all() {
		if !c.ok {
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
func numberLayout(rows []string, base, chk, opt span) (num [2]span, n int, digit, rest span) {
	num[0], n, digit, rest = base, 1, chk, opt
	r := rows[chk.row]
	if r[chk.start] != '<' || r[opt.start] == '<' {
		return
	}
	end := opt.start
	for end < opt.end && r[end] != '<' {
		end++
	}
	// r[opt.start:end] is the rest of the number plus its check digit.
	num[1] = span{opt.row, opt.start, end - 1}
	n = 2
	digit = span{opt.row, end - 1, end}
	rest = span{opt.row, min(end+1, opt.end), opt.end}
	return
}

// layout describes where the decoded fields sit for one document. Spans
// that a format lacks are zero (empty).
type layout struct {
	checks checkSet

	code, issuer, nationality, sex, name span
	birth, expiry                        span
	number                               [2]span
	numberN                              int
	optional, optional2                  span
}

// layoutOf maps the fields of rows (already of format f) and evaluates every
// check digit.
func layoutOf(f Format, rows []string) (l layout) {
	l.code = span{0, 0, 2}
	l.issuer = span{0, 2, 5}
	cs := &l.checks
	switch f {
	case TD1:
		var numDigit span
		l.number, l.numberN, numDigit, l.optional = numberLayout(rows, span{0, 5, 14}, span{0, 14, 15}, span{0, 15, 30})
		l.birth, l.sex, l.expiry = span{1, 0, 6}, span{1, 7, 8}, span{1, 8, 14}
		l.nationality, l.optional2, l.name = span{1, 15, 18}, span{1, 18, 29}, span{2, 0, 30}
		cs.add(FieldNumber, numDigit, l.number[:l.numberN]...)
		cs.add(FieldBirthDate, span{1, 6, 7}, l.birth)
		cs.add(FieldExpiryDate, span{1, 14, 15}, l.expiry)
		cs.add(FieldComposite, span{1, 29, 30}, span{0, 5, 30}, span{1, 0, 7}, span{1, 8, 15}, span{1, 18, 29})
	default: // TD2, TD3, MRV-A, MRV-B share row 2 up to position 28
		width := len(rows[0])
		var numDigit span
		if f == TD2 {
			l.number, l.numberN, numDigit, l.optional = numberLayout(rows, span{1, 0, 9}, span{1, 9, 10}, span{1, 28, 35})
		} else {
			l.number[0], l.numberN, numDigit = span{1, 0, 9}, 1, span{1, 9, 10}
		}
		l.name = span{0, 5, width}
		l.nationality, l.birth, l.sex, l.expiry = span{1, 10, 13}, span{1, 13, 19}, span{1, 20, 21}, span{1, 21, 27}
		cs.add(FieldNumber, numDigit, l.number[:l.numberN]...)
		cs.add(FieldBirthDate, span{1, 19, 20}, l.birth)
		cs.add(FieldExpiryDate, span{1, 27, 28}, l.expiry)
		switch f {
		case TD2:
			cs.add(FieldComposite, span{1, 35, 36}, span{1, 0, 10}, span{1, 13, 20}, span{1, 21, 35})
		case TD3:
			l.optional = span{1, 28, 42}
			cs.add(FieldOptionalData, span{1, 42, 43}, l.optional)
			cs.c[cs.n-1].emptyOK = true
			cs.add(FieldComposite, span{1, 43, 44}, span{1, 0, 10}, span{1, 13, 20}, span{1, 21, 43})
		case MRVA, MRVB:
			l.optional = span{1, 28, width}
		}
	}
	for i := range cs.all() {
		evaluate(&cs.c[i], rows)
	}
	return l
}

func evaluate(c *check, rows []string) {
	c.read = rows[c.digit.row][c.digit.start]
	d, ok := spanDigit(rows, c.spans())
	if !ok {
		c.computed, c.ok = 0, false
		return
	}
	c.computed = d
	c.ok = c.read == d
	if !c.ok && c.emptyOK && c.read == '<' && d == '0' {
		// ICAO 9303-4: when the personal number is all '<', its check
		// digit may be '<' as well as '0'. d is '0' exactly when the
		// input is all '<' or weighs to 0 mod 10, so confirm it.
		c.ok = allFiller(rows, c.spans())
	}
}

func allFiller(rows []string, spans []span) bool {
	for _, s := range spans {
		if strings.Trim(s.text(rows), "<") != "" {
			return false
		}
	}
	return true
}
