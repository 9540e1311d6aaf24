package hub

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kordon/kordon/internal/sqltime"
)

// TestStampIsSqltime: stamp writes every instant exactly as sqltime.Format
// does, in any zone, whole seconds and nanoseconds alike, and years out of
// four digits.
func TestStampIsSqltime(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	zones := []*time.Location{time.UTC, time.FixedZone("east", 5*3600+1800), time.FixedZone("west", -8*3600)}
	ts := []time.Time{
		{}, time.Unix(0, 0), time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 1, 11, 0, 0, 123_456_000, time.UTC), time.Now(),
	}
	for range 20000 {
		ts = append(ts, time.Unix(r.Int64N(1<<35)-1<<34, r.Int64N(1e9)).In(zones[r.IntN(len(zones))]))
	}
	for _, at := range ts {
		if got, want := stamp(at), sqltime.Format(at); got != want {
			t.Fatalf("stamp(%v) = %q, sqltime writes %q", at, got, want)
		}
	}
}

func BenchmarkStamp(b *testing.B) {
	at := time.Now()
	b.Run("stamp", func(b *testing.B) {
		for b.Loop() {
			_ = stamp(at)
		}
	})
	b.Run("sqltime", func(b *testing.B) {
		for b.Loop() {
			_ = sqltime.Format(at)
		}
	})
}
