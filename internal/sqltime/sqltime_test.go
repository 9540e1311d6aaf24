package sqltime_test

import (
	"database/sql"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/kordon/kordon/internal/sqltime"
	_ "modernc.org/sqlite"
)

// instants that RFC3339Nano text puts out of order: trailing zeros of the
// fraction are dropped, and the shorter text sorts after the longer.
var instants = []time.Time{
	time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC),
	time.Date(2026, 12, 1, 16, 0, 0, 500_000_000, time.UTC),
	time.Date(2026, 12, 1, 16, 0, 9, 123_450_000, time.UTC),
	time.Date(2026, 12, 1, 16, 0, 9, 123_456_789, time.UTC),
	time.Date(2026, 12, 1, 16, 0, 10, 0, time.UTC),
}

func TestTextSortsAsTime(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ts := append([]time.Time(nil), instants...)
	base := time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)
	for range 2000 {
		// Nanosecond steps, many with trailing zeros.
		ts = append(ts, base.Add(time.Duration(r.IntN(1000))*time.Duration([]int{1, 10, 1000, 1e6}[r.IntN(4)])))
	}
	text := make([]string, len(ts))
	for i, v := range ts {
		text[i] = sqltime.Format(v)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	sort.Strings(text)
	for i := range ts {
		got, err := sqltime.Parse(text[i])
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(ts[i]) {
			t.Fatalf("text position %d is %s, time order has %s there", i, text[i], ts[i].Format(time.RFC3339Nano))
		}
	}
}

func TestFormatIsUTC(t *testing.T) {
	at := time.Date(2026, 12, 1, 21, 0, 0, 0, time.FixedZone("Almaty", 5*3600))
	if got, want := sqltime.Format(at), "2026-12-01T16:00:00.000000000Z"; got != want {
		t.Errorf("Format = %s, want %s", got, want)
	}
}

// TestNormalize rewrites what older versions wrote, in SQLite itself.
func TestNormalize(t *testing.T) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cases := map[string]string{"": "", "not a time": "not a time", "2026-12-01T21:00:00+05:00": "2026-12-01T21:00:00+05:00"}
	for _, v := range instants {
		cases[v.Format(time.RFC3339Nano)] = sqltime.Format(v)
		cases[sqltime.Format(v)] = sqltime.Format(v)
	}
	for in, want := range cases {
		var got string
		if err := db.QueryRow(`SELECT `+sqltime.Normalize("v")+` FROM (SELECT ? AS v)`, in).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFormatIsTheLayout: Format writes every instant exactly as
// time.Format writes Layout in UTC, in any zone, whole seconds and
// nanoseconds alike, and years out of four digits.
func TestFormatIsTheLayout(t *testing.T) {
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
		if got, want := sqltime.Format(at), at.UTC().Format(sqltime.Layout); got != want {
			t.Fatalf("Format(%v) = %q, time.Format writes %q", at, got, want)
		}
	}
}

// BenchmarkFormat puts Format beside time.Format of the same layout.
func BenchmarkFormat(b *testing.B) {
	at := time.Now()
	b.Run("sqltime", func(b *testing.B) {
		for b.Loop() {
			_ = sqltime.Format(at)
		}
	})
	b.Run("time.Format", func(b *testing.B) {
		for b.Loop() {
			_ = at.UTC().Format(sqltime.Layout)
		}
	})
}
