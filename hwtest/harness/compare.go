package harness

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/kordon/kordon/internal/reading"
)

// Tolerance loosens a golden comparison where real devices wobble.
type Tolerance struct {
	// Timing is how far a reading's origin (in trace time) may be from the
	// golden line's t. Lines without t are not timed.
	Timing time.Duration
	// Values maps JSON paths ("/payload/celsius") to the largest absolute
	// difference allowed between two numbers there; "*" applies to every
	// number without a path of its own.
	Values map[string]float64
}

// Diff is one difference between what a driver reported and its golden file.
type Diff struct {
	Reading int    // 1-based position among the device's readings
	Path    string // JSON path in the golden form ("/payload/number"), "" for a whole reading
	Want    string // JSON, "" when the reading is unexpected
	Got     string // JSON, "" when the reading is missing
	Note    string // extra explanation (tolerance, timing)
}

func (d Diff) String() string {
	switch {
	case d.Got == "":
		return fmt.Sprintf("reading %d: missing; want %s", d.Reading, d.Want)
	case d.Want == "":
		return fmt.Sprintf("reading %d: unexpected %s", d.Reading, d.Got)
	}
	s := fmt.Sprintf("reading %d: %s: want %s, got %s", d.Reading, d.Path, d.Want, d.Got)
	if d.Note != "" {
		s += " (" + d.Note + ")"
	}
	return s
}

// JoinDiffs is one line per difference.
func JoinDiffs(ds []Diff) string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return strings.Join(out, "\n")
}

// Compare matches readings against golden lines in order. offset, when not
// nil, gives a reading's origin in trace time, for golden lines with t.
func Compare(got []reading.Reading, want []Golden, tol Tolerance, offset func(reading.Reading) time.Duration) ([]Diff, error) {
	var diffs []Diff
	for i := 0; i < max(len(got), len(want)); i++ {
		switch {
		case i >= len(got):
			w := want[i]
			w.T = nil
			diffs = append(diffs, Diff{Reading: i + 1, Want: string(mustJSON(w))})
		case i >= len(want):
			g, err := GoldenOf(got[i])
			if err != nil {
				return nil, err
			}
			diffs = append(diffs, Diff{Reading: i + 1, Got: string(mustJSON(g))})
		default:
			g, err := GoldenOf(got[i])
			if err != nil {
				return nil, err
			}
			for _, d := range diffGolden(want[i], g, tol) {
				d.Reading = i + 1
				diffs = append(diffs, d)
			}
			if want[i].T != nil && offset != nil {
				at := offset(got[i])
				wantT := time.Duration(*want[i].T * float64(time.Second))
				if dt := at - wantT; dt > tol.Timing || -dt > tol.Timing {
					diffs = append(diffs, Diff{Reading: i + 1, Path: "/t",
						Want: strconv.FormatFloat(*want[i].T, 'f', 3, 64), Got: strconv.FormatFloat(at.Seconds(), 'f', 3, 64),
						Note: fmt.Sprintf("origin off by %s, tolerance %s", dt.Round(time.Millisecond), tol.Timing)})
				}
			}
		}
	}
	return diffs, nil
}

// diffGolden names the fields that differ, as JSON paths with both values.
func diffGolden(want, got Golden, tol Tolerance) []Diff {
	want.T, got.T = nil, nil
	var w, g any
	json.Unmarshal(mustJSON(want), &w)
	json.Unmarshal(mustJSON(got), &g)
	var out []Diff
	diffValue("", w, g, tol, &out)
	return out
}

func diffValue(path string, want, got any, tol Tolerance, out *[]Diff) {
	wm, wok := want.(map[string]any)
	gm, gok := got.(map[string]any)
	if wok && gok {
		keys := map[string]bool{}
		for k := range wm {
			keys[k] = true
		}
		for k := range gm {
			keys[k] = true
		}
		for _, k := range sortedKeys(keys) {
			diffValue(path+"/"+k, wm[k], gm[k], tol, out)
		}
		return
	}
	wa, wok := want.([]any)
	ga, gok := got.([]any)
	if wok && gok && len(wa) == len(ga) {
		for i := range wa {
			diffValue(fmt.Sprintf("%s/%d", path, i), wa[i], ga[i], tol, out)
		}
		return
	}
	wn, wok := want.(float64)
	gn, gok := got.(float64)
	if wok && gok {
		allowed, ok := tol.Values[path]
		if !ok {
			allowed = tol.Values["*"]
		}
		if d := math.Abs(wn - gn); d > allowed {
			note := ""
			if allowed > 0 {
				note = fmt.Sprintf("off by %.4g, tolerance %g", d, allowed)
			}
			*out = append(*out, Diff{Path: path, Want: string(mustJSON(want)), Got: string(mustJSON(got)), Note: note})
		}
		return
	}
	if string(mustJSON(want)) != string(mustJSON(got)) {
		*out = append(*out, Diff{Path: path, Want: jsonOrAbsent(want), Got: jsonOrAbsent(got)})
	}
}

// jsonOrAbsent tells a field that is missing from one that is null.
func jsonOrAbsent(v any) string {
	if v == nil {
		return "(absent)"
	}
	return string(mustJSON(v))
}
