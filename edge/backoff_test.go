package edge

import (
	"testing"
	"time"
)

// TestReopenBackoffStaysUnderASecond: however a device failed before (a
// few quick unplugs, a run of open failures, a long run), the wait before
// the next open is at most a second, so a replugged device is read within
// one.
func TestReopenBackoffStaysUnderASecond(t *testing.T) {
	var rb reopenBackoff
	now := time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
	runs := []time.Duration{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5 * time.Second, 0, 0, 200 * time.Millisecond, 0, 0, 0, 0}
	for i, ran := range runs {
		w, _ := rb.next(ran, "open /dev/ttyUSB0: no such file or directory", now)
		if w > time.Second || w <= 0 {
			t.Fatalf("failure %d (ran %s): wait %s, want (0, 1s]", i+1, ran, w)
		}
		now = now.Add(w)
	}
	if w, _ := rb.next(10*time.Second, "eof", now); w != minBackoff {
		t.Errorf("after a long run the wait is %s, want %s", w, minBackoff)
	}
}

// TestReopenBackoffLogsRepeatsSparingly: the same failure once a second is
// logged once a minute, a different one at once.
func TestReopenBackoffLogsRepeatsSparingly(t *testing.T) {
	var rb reopenBackoff
	now := time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
	logged := 0
	for i := 0; i < 120; i++ {
		if _, l := rb.next(0, "no such file", now); l {
			logged++
		}
		now = now.Add(time.Second)
	}
	if logged != 2 {
		t.Errorf("same failure for 2 minutes logged %d times, want 2", logged)
	}
	if _, l := rb.next(0, "permission denied", now); !l {
		t.Error("a new failure was not logged")
	}
}
