package mrz

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/kordon/kordon/drivers/passport/mrz/checkdigit"
	"github.com/kordon/kordon/internal/reading"
)

// FuzzParse feeds rows separated by '\n' to Parse as they are, and again
// forced into the layout chosen by shape (rows cut or padded with '<'), so
// that most inputs reach the decoder. Seeds: testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, mrz string, shape uint8) {
		rows := strings.Split(mrz, "\n")
		if d, err := Parse(rows, now); err == nil {
			checkDocument(t, rows, d)
		} else if d != nil {
			t.Fatalf("Parse returned a document and an error")
		}

		shapes := [3]struct{ n, w int }{{3, 30}, {2, 36}, {2, 44}}
		s := shapes[int(shape)%3]
		shaped := make([]string, s.n)
		for i := range shaped {
			r := ""
			if i < len(rows) {
				r = rows[i]
			}
			if len(r) > s.w {
				r = r[:s.w]
			}
			shaped[i] = r + strings.Repeat("<", s.w-len(r))
		}
		d, err := Parse(shaped, now)
		if err != nil {
			t.Fatalf("Parse(%d rows of %d) = %v", s.n, s.w, err)
		}
		checkDocument(t, shaped, d)
	})
}

// checkDocument asserts what holds for any decoded document.
func checkDocument(t *testing.T, rows []string, d *Document) {
	t.Helper()
	if !slices.Equal(d.Rows, rows) {
		t.Fatalf("Rows %q differ from input %q", d.Rows, rows)
	}
	all := true
	for _, c := range d.Checks {
		all = all && c.OK
	}
	if d.Valid != all {
		t.Fatalf("Valid %v but checks %+v", d.Valid, d.Checks)
	}
	q := d.Quality()
	if d.Valid {
		if len(d.Candidates) != 0 || len(d.Ambiguous) != 0 {
			t.Fatalf("valid document with candidates %+v / ambiguous %v", d.Candidates, d.Ambiguous)
		}
		if q.Status == reading.Bad {
			t.Fatalf("valid document judged bad: %+v", q)
		}
	} else if q.Status == reading.OK {
		t.Fatalf("invalid document judged ok")
	}
	if q.Status == reading.Suspect && !d.Valid && len(d.Candidates) == 0 {
		t.Fatalf("suspect without candidates: %+v", q)
	}
	// Each candidate is one confusion substitution that makes its check pass.
	for _, c := range d.Candidates {
		r, p := c.Row-1, c.Position-1
		from := rows[r][p]
		to := checkdigit.Confusion(from)
		if to == 0 {
			t.Fatalf("candidate at a character with no confusion: %+v", c)
		}
		fixed, err := Parse(apply(rows, sub{r, p, to}), now)
		if err != nil {
			t.Fatal(err)
		}
		for _, fc := range fixed.Checks {
			if fc.Field == c.Check && !fc.OK {
				t.Fatalf("candidate %+v does not make %s pass", c, c.Check)
			}
		}
		if len(c.Read) != len(c.Candidate) || c.Read == c.Candidate {
			t.Fatalf("candidate read/candidate %q/%q", c.Read, c.Candidate)
		}
	}
	if d.Expired != nil && d.ExpiryDate == "" || d.Minor != nil && d.BirthDate == "" {
		t.Fatalf("derived field without a date")
	}
	if _, err := json.Marshal(d); err != nil {
		t.Fatal(err)
	}
	if _, err := json.Marshal(reading.Reading{Payload: d, Quality: q}); err != nil {
		t.Fatal(err)
	}
}
