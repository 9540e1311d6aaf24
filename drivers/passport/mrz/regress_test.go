package mrz

import (
	"strings"
	"testing"

	"github.com/kordon/kordon/internal/reading"
)

// Found by FuzzParse (seed contradicting_candidates): the number and the
// birth date each have a candidate that, alone, also makes the composite
// pass; together they break it. They cannot both be misreads, so no third
// composite-only candidate is searched and the read is bad.
func TestContradictingCandidatesStayBad(t *testing.T) {
	rows := []string{strings.Repeat("<", 36), "189Z80009000074O81220120Y1Z97Y18Y200"}
	d := mustParse(t, rows, now)
	q := d.Quality()
	if q.Status != reading.Bad || !strings.Contains(q.Reason, "candidates do not make every check pass") {
		t.Errorf("quality %+v", q)
	}
	for _, c := range d.Candidates {
		if c.Check == FieldComposite {
			t.Errorf("composite candidate offered on top of contradicting ones: %+v", c)
		}
	}
}
