package hub

import (
	"testing"
	"time"

	"github.com/kordon/kordon/internal/contract"
)

// judgeIn runs one reading through the rules in the state change st, as
// the commit path runs a job of a batch; the caller commits st or drops it.
func judgeIn(t *testing.T, rs *testRules, st *stateTx, device string, seq uint64, at time.Duration, kind, payload string) []contract.Alert {
	t.Helper()
	alerts, _ := judge(t, rs, st, device, seq, at, kind, payload)
	return alerts
}

// pairedWith is the reading of device other than the one given in a
// correlated alert ("" when the alert does not link two readings).
func pairedWith(a contract.Alert, device string) contract.ReadingRef {
	for _, ref := range a.Readings {
		if len(a.Readings) == 2 && ref.Device != device {
			return ref
		}
	}
	return contract.ReadingRef{}
}

// TestCorrelationOldReadingKeepsNewerMatches: a reading older than the
// box's pending matches (a backlog drained after an outage, two devices'
// readings out of origin order, a clock behind) drops none of them, of
// neither side or of either; the partner that comes next still pairs.
func TestCorrelationOldReadingKeepsNewerMatches(t *testing.T) {
	for _, old := range []struct {
		name, device, kind, payload string
	}{
		{"neither side", "thermo1", "temperature", `{"celsius":36.6}`},
		{"the same side", "reader2", "document", `{"valid":true}`},
		{"the other side", "trace2", "trace", `{"alarm":true}`},
	} {
		t.Run(old.name, func(t *testing.T) {
			rs := mustCompile(t, corrRules)
			feed(t, rs, "reader1", 1, 10*time.Minute, "document", `{"valid":true}`)
			if a := feed(t, rs, old.device, 1, -time.Hour, old.kind, old.payload); len(a) != 0 {
				t.Fatalf("a reading an hour older than the document paired in a 2 minute window: %+v", a)
			}
			a := feed(t, rs, "trace1", 1, 11*time.Minute, "trace", `{"alarm":true}`)
			if len(a) != 1 {
				t.Fatalf("alarm a minute after the document raised %d alerts after an older reading, want 1", len(a))
			}
			if got, want := pairedWith(a[0], "trace1"), (contract.ReadingRef{Box: "booth-01", Device: "reader1", Seq: 1}); got != want {
				t.Errorf("alarm paired with %+v, want %+v", got, want)
			}
		})
	}
}

// TestCorrelationOutOfOrderPairsOnlyWithinWindow: an alarm that arrives
// after a document but is older than it by more than the window pairs
// with nothing, and leaves the document for its own partner; a reading
// newer than the window past a match still drops it.
func TestCorrelationOutOfOrderPairsOnlyWithinWindow(t *testing.T) {
	rs := mustCompile(t, corrRules)
	feed(t, rs, "reader1", 1, 10*time.Minute, "document", `{"valid":true}`)
	if a := feed(t, rs, "trace1", 1, 5*time.Minute, "trace", `{"alarm":true}`); len(a) != 0 {
		t.Fatalf("an alarm 5 minutes before the document paired in a 2 minute window: %+v", a)
	}
	// The old alarm waits: a document within its window, older still, pairs.
	a := feed(t, rs, "reader2", 1, 4*time.Minute, "document", `{"valid":true}`)
	if len(a) != 1 || pairedWith(a[0], "reader2").Seq != 1 || pairedWith(a[0], "reader2").Device != "trace1" {
		t.Fatalf("document a minute before the waiting alarm raised %+v, want one alert with trace1#1", a)
	}
	a = feed(t, rs, "trace1", 2, 11*time.Minute, "trace", `{"alarm":true}`)
	if len(a) != 1 || pairedWith(a[0], "trace1").Device != "reader1" {
		t.Fatalf("alarm a minute after the document raised %+v, want one alert with reader1#1", a)
	}
	// Past the window of a waiting document: a newer reading of neither
	// side drops it.
	feed(t, rs, "reader1", 2, 20*time.Minute, "document", `{"valid":true}`)
	feed(t, rs, "thermo1", 1, 23*time.Minute, "temperature", `{"celsius":36.6}`)
	if a := feed(t, rs, "trace1", 3, 21*time.Minute, "trace", `{"alarm":true}`); len(a) != 0 {
		t.Errorf("an alarm paired with a document a newer reading had dropped: %+v", a)
	}
}

// TestCorrelationClockAheadForgetsNothingForGood: one reading of a clock
// far ahead drops what it finds older than its window, as any newer
// reading does, but the box's readings after it pair again.
func TestCorrelationClockAheadForgetsNothingForGood(t *testing.T) {
	rs := mustCompile(t, corrRules)
	feed(t, rs, "reader1", 1, 0, "document", `{"valid":true}`)
	feed(t, rs, "reader1", 2, 365*24*time.Hour, "document", `{"valid":true}`)
	feed(t, rs, "reader1", 3, time.Minute, "document", `{"valid":true}`)
	a := feed(t, rs, "trace1", 1, 90*time.Second, "trace", `{"alarm":true}`)
	if len(a) != 1 || pairedWith(a[0], "trace1").Seq != 3 {
		t.Fatalf("alarm 30 s after a document, after a reading a year ahead, raised %+v, want one alert with reader1#3", a)
	}
}

// TestCorrelationPendingIsTransactional: a job's pending matches count only
// if it commits, and what a job sees does not change under it whatever
// other jobs begun beside it add.
func TestCorrelationPendingIsTransactional(t *testing.T) {
	rs := mustCompile(t, corrRules)
	feed(t, rs, "reader1", 1, 0, "document", `{"valid":true}`)
	batch := rs.state.begin()
	one := batch.begin()
	judgeIn(t, rs, one, "reader2", 1, 60*time.Second, "document", `{"valid":true}`)
	other := batch.begin() // beside one, over the batch as it was before
	judgeIn(t, rs, other, "reader3", 1, 90*time.Second, "document", `{"valid":true}`)
	other.commit()
	// one's view: reader1#1 and reader2#1, never reader3#1 (which other
	// added after one had added reader2#1).
	a := judgeIn(t, rs, one.begin(), "trace1", 1, 90*time.Second, "trace", `{"alarm":true}`)
	if len(a) != 1 || pairedWith(a[0], "trace1") != (contract.ReadingRef{Box: "booth-01", Device: "reader2", Seq: 1}) {
		t.Fatalf("alarm at 90 s in one job's view raised %+v, want one alert with reader2#1", a)
	}
	// one is dropped: the batch holds reader1#1 and other's reader3#1.
	batch.commit()
	a = feed(t, rs, "trace1", 1, 60*time.Second, "trace", `{"alarm":true}`)
	if len(a) != 1 || pairedWith(a[0], "trace1").Device != "reader3" {
		t.Fatalf("alarm at 60 s raised %+v, want one alert with reader3#1 (reader2#1 was never committed)", a)
	}
	a = feed(t, rs, "trace1", 2, 60*time.Second, "trace", `{"alarm":true}`)
	if len(a) != 1 || pairedWith(a[0], "trace1").Device != "reader1" {
		t.Fatalf("second alarm at 60 s raised %+v, want one alert with reader1#1", a)
	}
}
