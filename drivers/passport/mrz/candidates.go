package mrz

import "slices"

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
func (d *Document) findCandidates(f Format, rows []string, l *layout) (resolved bool) {
	var offered []sub
	for i := range l.checks.all() {
		c := &l.checks.c[i]
		if c.ok || c.field == FieldComposite {
			continue
		}
		pos := append(positions(c.spans()), c.digit)
		d.offer(f, rows, l, c.field, search(f, rows, &l.checks, c.field, pos), &offered)
	}

	// Every candidate of step 1 made the composite pass on its own. If the
	// composite fails with them all applied, they contradict each other (at
	// most one of them can be the misread): nothing more is searched, and
	// the document stays bad ("candidates do not make every check pass").
	// So step 2 runs only when step 1 offered nothing.
	after := layoutOf(f, apply(rows, offered...))
	if comp := after.checks.get(FieldComposite); comp != nil && !comp.ok && len(offered) == 0 {
		var pos []span
		for _, p := range positions(comp.spans()) {
			if !coveredByField(&after.checks, p.row, p.start) {
				pos = append(pos, p)
			}
		}
		pos = append(pos, comp.digit)
		// The composite-only characters are the same in rows and in the
		// rows with candidates applied, so searching the latter is enough.
		d.offer(f, rows, l, FieldComposite, search(f, apply(rows, offered...), &after.checks, FieldComposite, pos), &offered)
	}

	final := layoutOf(f, apply(rows, offered...))
	return final.checks.allOK()
}

// offer records the outcome of a search for one check.
func (d *Document) offer(f Format, rows []string, l *layout, check string, found []sub, offered *[]sub) {
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
func search(f Format, rows []string, base *checkSet, field string, pos []span) []sub {
	var found []sub
	for _, p := range pos {
		to := confusion[rows[p.row][p.start]]
		if to == 0 {
			continue
		}
		s := sub{p.row, p.start, to}
		r2 := apply(rows, s)
		after := layoutOf(f, r2)
		if c := after.checks.get(field); c == nil || !c.ok {
			continue
		}
		if (after.birth.has(s.row, s.col) && !plausibleDate(after.birth.text(r2))) ||
			(after.expiry.has(s.row, s.col) && !plausibleDate(after.expiry.text(r2))) {
			continue
		}
		broke := false
		for i, c := range base.all() {
			a := &after.checks.c[i]
			if !a.ok && (c.ok || a.covers(s.row, s.col) || a.digit.has(s.row, s.col)) {
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
func positions(spans []span) []span {
	var out []span
	for _, s := range spans {
		for c := s.start; c < s.end; c++ {
			out = append(out, span{s.row, c, c + 1})
		}
	}
	return out
}

func coveredByField(cs *checkSet, row, col int) bool {
	for _, c := range cs.all() {
		if c.field == FieldComposite {
			continue
		}
		if c.covers(row, col) || c.digit.has(row, col) {
			return true
		}
	}
	return false
}

// element names the field holding the character at row, col (0-based) and
// returns its spans: a checked field, "<field>_check" for a check digit, or
// the optional data areas only the composite covers.
func element(f Format, l *layout, row, col int) (string, []span) {
	for i := range l.checks.all() {
		c := &l.checks.c[i]
		if c.digit.has(row, col) {
			return c.field + "_check", []span{c.digit}
		}
		if c.field != FieldComposite && c.covers(row, col) {
			return c.field, c.spans()
		}
	}
	var regions []region
	switch f {
	case TD1:
		regions = []region{{"optional_data", span{0, 15, 30}}, {"optional_data_2", span{1, 18, 29}}}
	case TD2:
		regions = []region{{"optional_data", span{1, 28, 35}}}
	}
	for _, r := range regions {
		if r.sp.has(row, col) {
			return r.name, []span{r.sp}
		}
	}
	return "row" + itoa(row+1), []span{{row, col, col + 1}}
}

type region struct {
	name string
	sp   span
}

func textOf(rows []string, spans []span) string {
	var b []byte
	for _, s := range spans {
		b = append(b, s.text(rows)...)
	}
	return string(b)
}

// plausibleDate: YYMMDD made of digit pairs or "<<" pairs, with a month
// 1-12 and a day 1-31 where known.
func plausibleDate(s string) bool {
	_, mm, dd, known, ok := readDate(s)
	return ok && (!known[1] || mm >= 1 && mm <= 12) && (!known[2] || dd >= 1 && dd <= 31)
}
