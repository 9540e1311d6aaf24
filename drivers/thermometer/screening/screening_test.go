package screening

import (
	"slices"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/internal/reading"
)

func screener(t *testing.T, src string) *Screener {
	t.Helper()
	o := drivertest.Options(t, src)
	cfg, err := ParseScreening(o, 100*time.Millisecond, o.Node)
	if err != nil {
		t.Fatal(err)
	}
	return NewScreener(cfg, "lane-1", "test")
}

// feed returns, per sample, the events of the published reading ("-" when
// nothing was published).
func feed(s *Screener, cs ...float64) []string {
	var out []string
	for _, c := range cs {
		r := s.Sample(Sample{Measured: c})
		if r.Emit {
			s.Settle(nil)
		}
		switch {
		case !r.Emit:
			out = append(out, "-")
		case len(r.Payload.Events) == 0:
			out = append(out, r.Payload.Cause)
		default:
			out = append(out, r.Payload.Events[0])
		}
	}
	return out
}

func TestFeverHysteresisAndConfirm(t *testing.T) {
	s := screener(t, "{threshold: 37.5, hysteresis: 0.3, confirm: 2, deadband: 0.2, heartbeat: 1h, stuck_window: 0s}")
	got := feed(s, 36.6, 37.6, 36.6, 37.5, 37.6, 37.9, 37.2, 37.3, 38.4, 37.19, 37.6, 37.7)
	want := []string{"first", "change", "change", "change", "fever_onset", "change", "change", "-", "change", "fever_cleared", "change", "fever_onset"}
	if !slices.Equal(got, want) {
		t.Fatalf("events\n got %v\nwant %v", got, want)
	}
}

func TestOneFeverOnsetPerFeverHowEverLong(t *testing.T) {
	s := screener(t, "{heartbeat: 300ms, stuck_window: 0s}")
	onsets := 0
	for i := range 1000 {
		r := s.Sample(Sample{Measured: 38.0 + float64(i%7)/10})
		if slices.Contains(r.Payload.Events, EventFeverOnset) {
			onsets++
		}
		if r.Emit && !r.Payload.Fever && i > 1 {
			t.Fatalf("sample %d: fever dropped", i)
		}
	}
	if onsets != 1 {
		t.Fatalf("%d onsets, want 1", onsets)
	}
}

func TestStuckReportedWithinWindow(t *testing.T) {
	// 1s window at 100ms polls: the 11th identical sample spans the window.
	s := screener(t, "{stuck_window: 1s, heartbeat: 1h}")
	feed(s, 36.2, 36.4)
	for i := 1; i <= 11; i++ {
		r := s.Sample(Sample{Measured: 36.6})
		if i < 11 && r.Payload.Fault != "" {
			t.Fatalf("stuck after %d samples, before the window", i)
		}
		if i == 11 {
			if r.Payload.Fault != "stuck" || !r.Emit || r.Quality.Status != reading.Bad || r.Payload.Celsius != nil {
				t.Fatalf("sample 11: %+v %+v", r.Payload, r.Quality)
			}
		}
	}
	// Still stuck: no new fault event; then alive again: cleared once.
	if r := s.Sample(Sample{Measured: 36.6}); r.Emit {
		t.Fatalf("repeated stuck reading published: %+v", r.Payload)
	}
	if got := feed(s, 36.7); got[0] != EventFaultCleared {
		t.Fatalf("after recovery: %v", got)
	}
}

func TestFeverHeldThroughFault(t *testing.T) {
	s := screener(t, "{stuck_window: 0s, heartbeat: 1h}")
	feed(s, 38.2, 38.3)
	r := s.Fail("timeout", "no reply")
	if !r.Emit || !r.Payload.Fever || r.Payload.Events[0] != EventFault {
		t.Fatalf("fault reading %+v", r.Payload)
	}
	if got := feed(s, 38.1, 36.5); !slices.Equal(got, []string{EventFaultCleared, EventFeverCleared}) {
		t.Fatalf("after fault: %v (fever must not re-onset, and clears only on a normal reading)", got)
	}
}

func TestDeadbandAndHeartbeat(t *testing.T) {
	// heartbeat 500ms at 100ms polls = 5 polls.
	s := screener(t, "{deadband: 0.2, heartbeat: 500ms, stuck_window: 0s}")
	got := feed(s, 36.5, 36.6, 36.5, 36.6, 36.5, 36.6, 36.9, 36.8)
	want := []string{"first", "-", "-", "-", "-", "heartbeat", "change", "-"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

func TestAmbientCompensation(t *testing.T) {
	s := screener(t, "{offset: 0.5, ambient_coeff: 0.1, ambient_ref: 25, stuck_window: 0s}")
	h := 15.0 // a cold booth: skin reads low
	r := s.Sample(Sample{Measured: 36.0, Housing: &h})
	// 36.0 + 0.5 + 0.1 × (25 − 15) = 37.5: at the threshold, counting.
	if *r.Payload.Celsius != 37.5 || *r.Payload.Measured != 36.0 {
		t.Fatalf("compensated %v measured %v", *r.Payload.Celsius, *r.Payload.Measured)
	}
}
