package mrz

import (
	"slices"

	"github.com/kordon/kordon/drivers/passport/mrz/checkdigit"
	"github.com/kordon/kordon/drivers/passport/mrz/layout"
	"github.com/kordon/kordon/drivers/passport/mrz/mrzdate"
)

// sub is one single-character substitution: 0-based row and column.
type sub struct {
	row, col int
	to       byte
}

func apply(rows []string, subs ...sub) []string {
	out := slices.Clone(rows)
	for _, s := range subs {
		b := []byte(out[s.row])
		b[s.col] = s.to
		out[s.row] = string(b)
	}
	return out
}

// findCandidates looks for OCR-confusion candidates for the failing checks
// of d (rows as read, l their layout). The rule:
//
//  1. For each failing field check (number, birth_date, expiry_date,
//     optional_data), try every single substitution O<->0, I<->1, B<->8,
//     S<->5, Z<->2, K<->< at the field's characters and its check digit.
//     A substitution passes when the check then passes, every check that
//     covers the substituted character (the composite too) passes, and no
//     check that passed before fails. Exactly one passing substitution is
//     offered as a Candidate; more than one makes the check ambiguous and
//     none is offered. So with two misreads in one field and the composite,
//     no candidate is offered: the read stays bad. A substitution that
//     leaves a date field not a date (a letter in YYMMDD, month 13) is not
//     counted: no real date reads that way.
//  2. When step 1 offered nothing and the composite fails, the same rule
//     runs over the characters only the composite covers (those no field
//     check covers) and its own digit. (Each step-1 candidate already
//     makes the composite pass on its own; if several together do not,
//     they contradict each other and the read stays bad.)
//
// Nothing is applied to d. resolved reports whether all offered candidates
// together make every check pass.
//
// K and '<' weigh 20 and 0, the same modulo 10, so a K<->< confusion never
// changes a check digit outcome: it can be a candidate only where it changes
// the layout (a '<' check digit of an empty TD3 personal number, or the
// long-document-number rule).
func (d *Document) findCandidates(f Format, rows []string, l *layout.Layout) (resolved bool) {
	var offered []sub
	for i := range l.Checks.All() {
		c := &l.Checks.All()[i]
		if c.OK || c.Field == FieldComposite {
			continue
		}
		pos := append(positions(c.Spans()), c.Digit)
		d.offer(f, rows, l, c.Field, search(f, rows, &l.Checks, c.Field, pos), &offered)
	}

	// Every candidate of step 1 made the composite pass on its own. If the
	// composite fails with them all applied, they contradict each other (at
	// most one of them can be the misread): nothing more is searched, and
	// the document stays bad ("candidates do not make every check pass").
	// So step 2 runs only when step 1 offered nothing.
	after := layout.Of(f, apply(rows, offered...))
	if comp := after.Checks.Get(FieldComposite); comp != nil && !comp.OK && len(offered) == 0 {
		var pos []layout.Span
		for _, p := range positions(comp.Spans()) {
			if !coveredByField(&after.Checks, p.Row, p.Start) {
				pos = append(pos, p)
			}
		}
		pos = append(pos, comp.Digit)
		// The composite-only characters are the same in rows and in the
		// rows with candidates applied, so searching the latter is enough.
		d.offer(f, rows, l, FieldComposite, search(f, apply(rows, offered...), &after.Checks, FieldComposite, pos), &offered)
	}

	final := layout.Of(f, apply(rows, offered...))
	return final.Checks.AllOK()
}

// offer records the outcome of a search for one check.
func (d *Document) offer(f Format, rows []string, l *layout.Layout, check string, found []sub, offered *[]sub) {
	switch {
	case len(found) == 1:
		s := found[0]
		if slices.Contains(*offered, s) {
			return
		}
		*offered = append(*offered, s)
		field, el := element(f, l, s.row, s.col)
		read := textOf(rows, el)
		cand := textOf(apply(rows, s), el)
		d.Candidates = append(d.Candidates, Candidate{
			Check: check, Field: field, Row: s.row + 1, Position: s.col + 1,
			Read: read, Candidate: cand,
		})
	case len(found) > 1:
		d.Ambiguous = append(d.Ambiguous, check)
	}
}

// search tries every confusion substitution at pos (one-character spans)
// and returns those that make field's check and every check covering the
// substituted character pass, without failing a check that passes in base.
func search(f Format, rows []string, base *layout.CheckSet, field string, pos []layout.Span) []sub {
	var found []sub
	for _, p := range pos {
		to := checkdigit.Confusion(rows[p.Row][p.Start])
		if to == 0 {
			continue
		}
		s := sub{p.Row, p.Start, to}
		r2 := apply(rows, s)
		after := layout.Of(f, r2)
		if c := after.Checks.Get(field); c == nil || !c.OK {
			continue
		}
		if (after.Birth.Has(s.row, s.col) && !mrzdate.Plausible(after.Birth.Text(r2))) ||
			(after.Expiry.Has(s.row, s.col) && !mrzdate.Plausible(after.Expiry.Text(r2))) {
			continue
		}
		broke := false
		for i, c := range base.All() {
			a := &after.Checks.All()[i]
			if !a.OK && (c.OK || a.Covers(s.row, s.col) || a.Digit.Has(s.row, s.col)) {
				broke = true
				break
			}
		}
		if !broke && !slices.Contains(found, s) {
			found = append(found, s)
		}
	}
	return found
}

// positions splits spans into one-character spans.
func positions(spans []layout.Span) []layout.Span {
	var out []layout.Span
	for _, s := range spans {
		for c := s.Start; c < s.End; c++ {
			out = append(out, layout.Span{Row: s.Row, Start: c, End: c + 1})
		}
	}
	return out
}

func coveredByField(cs *layout.CheckSet, row, col int) bool {
	for _, c := range cs.All() {
		if c.Field == FieldComposite {
			continue
		}
		if c.Covers(row, col) || c.Digit.Has(row, col) {
			return true
		}
	}
	return false
}

// element names the field holding the character at row, col (0-based) and
// returns its spans: a checked field, "<field>_check" for a check digit, or
// the optional data areas only the composite covers.
func element(f Format, l *layout.Layout, row, col int) (string, []layout.Span) {
	for i := range l.Checks.All() {
		c := &l.Checks.All()[i]
		if c.Digit.Has(row, col) {
			return c.Field + "_check", []layout.Span{c.Digit}
		}
		if c.Field != FieldComposite && c.Covers(row, col) {
			return c.Field, c.Spans()
		}
	}
	var regions []region
	switch f {
	case TD1:
		regions = []region{{"optional_data", layout.Span{Row: 0, Start: 15, End: 30}}, {"optional_data_2", layout.Span{Row: 1, Start: 18, End: 29}}}
	case TD2:
		regions = []region{{"optional_data", layout.Span{Row: 1, Start: 28, End: 35}}}
	}
	for _, r := range regions {
		if r.sp.Has(row, col) {
			return r.name, []layout.Span{r.sp}
		}
	}
	return "row" + itoa(row+1), []layout.Span{{Row: row, Start: col, End: col + 1}}
}

type region struct {
	name string
	sp   layout.Span
}

func textOf(rows []string, spans []layout.Span) string {
	var b []byte
	for _, s := range spans {
		b = append(b, s.Text(rows)...)
	}
	return string(b)
}
