// Package mrz decodes the machine readable zone (MRZ) of ICAO Doc 9303
// travel documents: TD1 (3x30), TD2 (2x36), TD3 passports (2x44) and the
// visas MRV-A (2x44) and MRV-B (2x36). It is pure: no I/O, no clock of its
// own (Parse takes now), no global state.
//
// It reports what was read. Check digits are verified, never used to
// "repair" a read: when a check fails and exactly one usual OCR confusion
// would make it pass, that substitution is offered as a Candidate and the
// reading is marked suspect, but every field keeps the value as read.
//
// # Decoding rules
//
//   - Layout by row count and length in bytes; a document code starting
//     with 'V' makes a 2x44 row pair MRV-A and a 2x36 pair MRV-B.
//   - Codes (document code, issuer, nationality) lose their trailing '<'
//     filler: Germany's "D<<" is reported as "D". Document numbers and
//     optional data lose trailing fillers too; inner '<' stay as read.
//   - TD1/TD2 long document numbers: when the number's check position holds
//     '<' and the optional data does not start with '<', the number goes on
//     in the optional data up to the next '<'; the character before that
//     '<' is the check digit (over the whole number); optional data is what
//     follows that '<'. A '<' at the check position with optional data
//     starting with '<' is a missing check digit: that check fails.
//   - TD3 personal number: when positions 29-42 are all '<', position 43
//     passes as '0' or '<'.
//   - Names: PRIMARY<<SECONDARY<NAMES; single '<' become spaces and runs of
//     fillers collapse. NameTruncated is set when the last position of the
//     name field is a letter.
//   - Sex is the character read: "M", "F", "X" or "<" (unspecified).
//   - Dates are "YYYY-MM-DD"; parts read as "<<" (unknown, allowed in birth
//     dates) are written "<<<<" or "<<". A date that is not well formed
//     (letters, "7<", month 13, 31 April) is reported as "" and named in
//     the Quality reason.
//
// # Century rule (against now, by the box clock)
//
//   - Birth: 20YY (now's century) unless that is after now, then 19YY.
//   - Expiry: the year ending in YY within [now-49, now+50] years; in 2026
//     that is 1977-2076, i.e. 20YY unless that is more than 50 years ahead.
//
// Expired (expiry before now's date) and Minor (under 18 on now's date) are
// nil when the date is unknown, not a date, or its check digit failed.
// With unknown month/day they are set only if every possible date agrees.
//
// # Personal data
//
// Fields tagged `personal:"true"` (number, birth date, names, optional
// data, candidates, rows) are listed by internal/reading so that logs and
// exports redact them. Errors and Quality reasons name fields and
// positions, never values.
package mrz

import (
	"slices"
	"strings"
	"time"

	"github.com/kordon/kordon/drivers/passport/mrz/layout"
	"github.com/kordon/kordon/drivers/passport/mrz/mrzdate"
	"github.com/kordon/kordon/internal/reading"
)

// Document is one decoded MRZ. It is a reading.Payload of kind "document".
type Document struct {
	Format        Format  `json:"format"`
	DocumentCode  string  `json:"document_code"` // "P", "I", "ID", "V", ... fillers trimmed
	Issuer        string  `json:"issuer"`        // ICAO 3-letter code; Germany "D"
	Number        string  `json:"number" personal:"true"`
	Nationality   string  `json:"nationality"`
	BirthDate     string  `json:"birth_date" personal:"true"` // "YYYY-MM-DD", unknown parts '<'; "" if not a date
	Sex           string  `json:"sex"`                        // as read: "M", "F", "X" or "<"
	ExpiryDate    string  `json:"expiry_date"`                // "YYYY-MM-DD"; "" if not a date
	PrimaryName   string  `json:"primary_name" personal:"true"`
	SecondaryName string  `json:"secondary_name" personal:"true"`
	NameTruncated bool    `json:"name_truncated"`
	OptionalData  string  `json:"optional_data" personal:"true"`             // TD3: personal number
	OptionalData2 *string `json:"optional_data_2,omitempty" personal:"true"` // TD1 row 2 positions 19-29 only

	Checks []Check `json:"checks"`
	Valid  bool    `json:"valid"` // every check digit of this format passed

	Expired *bool `json:"expired,omitempty"`
	Minor   *bool `json:"minor,omitempty"`

	// Candidates are OCR-confusion substitutions that would make a failing
	// check pass (see Candidate). The values are never applied.
	Candidates []Candidate `json:"candidates" personal:"true"`
	// Ambiguous names the failing checks for which more than one
	// substitution would pass, so none was offered.
	Ambiguous []string `json:"ambiguous,omitempty"`

	Rows []string `json:"rows" personal:"true"` // as read

	quality reading.Quality
}

// Check is one check digit: the character read at its position and the
// digit computed over its field. Computed is "" when the field holds a
// character outside 0-9 A-Z '<'.
type Check struct {
	Field    string `json:"field"` // number, birth_date, expiry_date, optional_data, composite
	Read     string `json:"read"`
	Computed string `json:"computed"`
	OK       bool   `json:"ok"`
}

// Candidate is one single-character OCR-confusion substitution (O<->0,
// I<->1, B<->8, S<->5, Z<->2, K<-><) that makes the failing check Check,
// and every other check covering that character, pass without breaking a
// check that passed. It is offered only when it is the only such
// substitution for that check (see findCandidates for the full rule).
type Candidate struct {
	Check     string `json:"check"`                     // the failing check it makes pass
	Field     string `json:"field"`                     // where the character is: a field, or "<field>_check" for a check digit
	Row       int    `json:"row"`                       // 1-based
	Position  int    `json:"position"`                  // 1-based, within the row (ICAO numbering)
	Read      string `json:"read" personal:"true"`      // Field as read
	Candidate string `json:"candidate" personal:"true"` // Field with the substitution
}

// Kind implements reading.Payload.
func (*Document) Kind() string { return "document" }

// Quality is ok when every check passed; suspect when checks failed but
// the offered candidates together make every check pass (or when all checks
// passed but a date is not a calendar date); bad otherwise. The reason
// names the failing fields, never their values.
func (d *Document) Quality() reading.Quality {
	if d.quality.Status != "" {
		return d.quality
	}
	// A Document not made by Parse: judge the checks alone.
	var failed []string
	for _, c := range d.Checks {
		if !c.OK {
			failed = append(failed, c.Field)
		}
	}
	if len(failed) == 0 {
		return reading.Quality{Status: reading.OK}
	}
	return reading.Quality{Status: reading.Bad, Reason: "check digit failed: " + strings.Join(failed, ", ")}
}

// Parse decodes MRZ rows (already split; no CR/LF) into a Document. now is
// the box clock, used for the century rule and for Expired and Minor.
//
// It returns an error only when the rows fit no known layout (wrong count
// or lengths); the error names lengths, never content. A document whose
// check digits fail is not an error: it is returned with Valid false.
func Parse(rows []string, now time.Time) (*Document, error) {
	f, err := layout.Detect(rows)
	if err != nil {
		return nil, err
	}
	rows = slices.Clone(rows)
	l := layout.Of(f, rows)
	d := &Document{
		Format:       f,
		DocumentCode: code(l.Code.Text(rows)),
		Issuer:       code(l.Issuer.Text(rows)),
		Nationality:  code(l.Nationality.Text(rows)),
		Sex:          l.Sex.Text(rows),
		OptionalData: strings.TrimRight(l.Optional.Text(rows), "<"),
		Rows:         rows,
		Candidates:   []Candidate{},
	}
	if l.NumberN == 1 {
		d.Number = strings.TrimRight(l.Number[0].Text(rows), "<")
	} else {
		d.Number = strings.TrimRight(l.Number[0].Text(rows)+l.Number[1].Text(rows), "<")
	}
	if f == TD1 {
		d.OptionalData2 = ptr(strings.TrimRight(l.Optional2.Text(rows), "<"))
	}
	d.PrimaryName, d.SecondaryName, d.NameTruncated = splitName(l.Name.Text(rows))

	cs := &l.Checks
	d.Checks = make([]Check, 0, len(cs.All()))
	d.Valid = true
	for _, c := range cs.All() {
		d.Checks = append(d.Checks, publicCheck(&c))
		d.Valid = d.Valid && c.OK
	}

	var problems []string
	birth, birthOK := mrzdate.Birth(l.Birth.Text(rows), now)
	if birthOK {
		d.BirthDate = birth.String()
		if cs.Get(FieldBirthDate).OK {
			d.Minor = mrzdate.Minor(birth, now)
		}
	} else {
		problems = append(problems, FieldBirthDate+" is not a date")
	}
	exp, expOK := mrzdate.Expiry(l.Expiry.Text(rows), now)
	if expOK {
		d.ExpiryDate = exp.String()
		if cs.Get(FieldExpiryDate).OK {
			d.Expired = mrzdate.Expired(exp, now)
		}
	} else {
		problems = append(problems, FieldExpiryDate+" is not a date")
	}

	if d.Valid {
		d.quality = reading.Quality{Status: reading.OK}
		if len(problems) > 0 {
			d.quality = reading.Quality{Status: reading.Suspect, Reason: strings.Join(problems, "; ")}
		}
		return d, nil
	}
	resolved := d.findCandidates(f, rows, &l)
	var failed []string
	for _, c := range cs.All() {
		if !c.OK {
			failed = append(failed, c.Field)
		}
	}
	reason := []string{"check digit failed: " + strings.Join(failed, ", ")}
	if len(d.Candidates) > 0 {
		var where []string
		for _, c := range d.Candidates {
			where = append(where, c.Check+" (row "+itoa(c.Row)+" position "+itoa(c.Position)+")")
		}
		reason = append(reason, "OCR candidate for "+strings.Join(where, ", "))
	}
	for _, a := range d.Ambiguous {
		reason = append(reason, a+": several OCR substitutions pass, none offered (ambiguous)")
	}
	if len(d.Candidates) == 0 && len(d.Ambiguous) == 0 {
		reason = append(reason, "no OCR candidate")
	} else if !resolved && len(d.Candidates) > 0 {
		reason = append(reason, "candidates do not make every check pass")
	}
	reason = append(reason, problems...)
	status := reading.Bad
	if resolved {
		status = reading.Suspect
	}
	d.quality = reading.Quality{Status: status, Reason: strings.Join(reason, "; ")}
	return d, nil
}

func publicCheck(c *layout.Check) Check {
	pc := Check{Field: c.Field, Read: string(c.Read), OK: c.OK}
	if c.Computed != 0 {
		pc.Computed = string(c.Computed)
	}
	return pc
}

// code trims the trailing fillers of a code: "D<<" -> "D", "P<" -> "P".
func code(s string) string { return strings.TrimRight(s, "<") }

// splitName splits PRIMARY<<SECONDARY<NAMES. Each name keeps its components
// separated by single spaces; truncated is true when the field's last
// position is a letter (ICAO: the name was cut to fit).
func splitName(f string) (primary, secondary string, truncated bool) {
	if n := len(f); n > 0 && f[n-1] >= 'A' && f[n-1] <= 'Z' {
		truncated = true
	}
	p, s, _ := strings.Cut(f, "<<")
	return words(p), words(s), truncated
}

// words turns '<'-separated components into space-separated words.
func words(s string) string {
	s = strings.Trim(s, "<")
	if !strings.Contains(s, "<") {
		return s
	}
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '<' }), " ")
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

func ptr[T any](v T) *T { return &v }
