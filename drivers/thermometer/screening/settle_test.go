package screening

import (
	"errors"
	"slices"
	"testing"
)

// TestLostOnsetIsAnnouncedAgain: when the box could not keep the reading
// that announced a fever, the screener does not go on as if the hub knew:
// the next sample above the threshold announces the onset again, and the
// fever state kept for restarts is not written.
func TestLostOnsetIsAnnouncedAgain(t *testing.T) {
	dir := t.TempDir()
	st := OpenFeverState(dir, nil)
	s := screener(t, "{}")
	s.Remember(st)
	feed(s, 36.6, 38.2) // first, then one sample above: not yet confirmed
	r := s.Sample(Sample{Measured: 38.3})
	if !slices.Contains(r.Payload.Events, EventFeverOnset) {
		t.Fatalf("no onset: %+v", r.Payload)
	}
	s.Settle(errors.New("outbox: no space left on the disk"))
	if OpenFeverState(dir, nil).Fever("lane-1") {
		t.Fatal("a lost onset was written down as told")
	}
	r = s.Sample(Sample{Measured: 38.4})
	if !r.Emit || !slices.Contains(r.Payload.Events, EventFeverOnset) {
		t.Fatalf("after the lost onset: %+v, want the onset again", r.Payload)
	}
	s.Settle(nil)
	if !OpenFeverState(dir, nil).Fever("lane-1") {
		t.Fatal("a kept onset was not written down")
	}
	if r := s.Sample(Sample{Measured: 38.5}); slices.Contains(r.Payload.Events, EventFeverOnset) {
		t.Fatal("onset announced twice after it was kept")
	}
}
