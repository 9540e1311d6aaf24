package bench

import (
	"context"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/passport"
)

// BenchmarkReplayOneHour replays a one-hour passport trace through a pty
// into the real driver. The bar is 36 s per hour of trace (100× real time):
// see the x_realtime metric.
func BenchmarkReplayOneHour(b *testing.B) {
	tr, docs := PassportTrace(time.Hour, 5*time.Second)
	b.ResetTimer()
	var last Result
	for i := 0; i < b.N; i++ {
		r, err := Replay(context.Background(), passport.Driver(), tr)
		if err != nil {
			b.Fatal(err)
		}
		if r.Readings != docs {
			b.Fatalf("%d readings, want %d", r.Readings, docs)
		}
		last = r
	}
	b.ReportMetric(last.Factor(), "x_realtime")
	b.ReportMetric(float64(last.Bytes), "trace_bytes")
}

// Every generated document comes out of the driver: the benchmark measures
// a replay that loses nothing.
func TestOneHourTraceReplaysCompletely(t *testing.T) {
	if testing.Short() {
		t.Skip("replays an hour of trace")
	}
	tr, docs := PassportTrace(time.Hour, 5*time.Second)
	r, err := Replay(context.Background(), passport.Driver(), tr)
	if err != nil {
		t.Fatal(err)
	}
	if r.Readings != docs || r.TraceLength < 59*time.Minute {
		t.Fatalf("%s: want %d readings over an hour", r, docs)
	}
	t.Log(r)
}
