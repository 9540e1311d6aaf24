package config

import (
	"sort"
	"strings"
)

// suggest returns " (did you mean X?)" for the known name closest to got,
// or the list of known names when none is close.
func suggest(got string, known []string) string {
	if len(known) == 0 {
		return ""
	}
	if best := closest(got, known); best != "" {
		return " (did you mean " + best + "?)"
	}
	sorted := append([]string(nil), known...)
	sort.Strings(sorted)
	return " (known: " + strings.Join(sorted, ", ") + ")"
}

// Suggest is suggest for values checked by callers, such as a role or a
// driver name: " (did you mean X?)" or " (known: ...)".
func Suggest(got string, known []string) string { return suggest(got, known) }

// closest is the known name within a small edit distance of got, "" if none.
func closest(got string, known []string) string {
	best, bestD := "", 0
	limit := max(2, len(got)/3)
	if len(got) <= 4 {
		limit = 1
	}
	g := strings.ToLower(got)
	for _, k := range known {
		d := distance(g, strings.ToLower(k))
		if d <= limit && (best == "" || d < bestD) {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Levenshtein edit distance with adjacent transpositions
// counted as one edit; written here rather than imported because it is a
// dozen lines and only ever compares short key names.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
