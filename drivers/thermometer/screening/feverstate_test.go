package screening

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFeverSurvivesRestart: an edged restart mid-fever (a new screener on
// the same state dir) announces no second onset, and still announces the
// fever's end; after it, a new fever is announced again.
func TestFeverSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	start := func() *Screener {
		s := screener(t, "{}")
		s.Remember(OpenFeverState(dir, nil))
		return s
	}
	if got := strings.Join(feed(start(), 36.6, 38.2, 38.3), " "); got != "first change fever_onset" {
		t.Fatalf("before the restart: %s", got)
	}
	s := start() // edged restarted mid-fever
	r := s.Sample(Sample{Measured: 38.4})
	if len(r.Payload.Events) != 0 || !r.Payload.Fever {
		t.Fatalf("after the restart: events %v, fever %v; want no onset, fever held", r.Payload.Events, r.Payload.Fever)
	}
	if got := strings.Join(feed(s, 38.3, 36.8), " "); got != "- fever_cleared" {
		t.Fatalf("the fever's end after the restart: %s", got)
	}
	if got := strings.Join(feed(start(), 36.7, 38.2, 38.3), " "); got != "first change fever_onset" {
		t.Errorf("a new fever after the cleared one: %s", got)
	}
}

// TestFeverStateFileCorrupt: a corrupt state file is counted and starts
// empty; a state dir that cannot be written is counted, screening goes on.
func TestFeverStateFileCorrupt(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, feverFile), []byte("{torn"), 0o644)
	counts := map[string]int{}
	st := OpenFeverState(dir, func(w string, n int) { counts[w] += n })
	if st.Fever("lane-1") || counts["fever_state_unreadable"] != 1 {
		t.Errorf("corrupt file: fever %v, counts %v", st.Fever("lane-1"), counts)
	}
	blocked := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocked, nil, 0o644)
	st = OpenFeverState(filepath.Join(blocked, "sub"), func(w string, n int) { counts[w] += n })
	s := screener(t, "{}")
	s.Remember(st)
	if got := strings.Join(feed(s, 38.2, 38.3), " "); got != "first fever_onset" || counts["fever_state_write_failed"] != 1 {
		t.Errorf("unwritable state: %s, counts %v", got, counts)
	}
}
