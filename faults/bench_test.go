package faults

import (
	"context"
	"testing"
	"time"
)

// BenchmarkBoxThroughput: readings per second from two readers through one
// edged (outbox on disk) and the hub (stored in SQLite), end to end.
func BenchmarkBoxThroughput(b *testing.B) {
	s := newStation(b, "reader1", "reader2")
	s.startHub()
	s.startBox()
	b.ResetTimer()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan struct{})
	for i, d := range s.devices {
		go func() {
			for n := range b.N / len(s.devices) {
				if ctx.Err() != nil {
					break
				}
				d.write(i*10_000_000 + n)
			}
			done <- struct{}{}
		}()
	}
	want := int64(b.N / len(s.devices) * len(s.devices))
	eventually(b, 5*time.Minute, "all readings at the hub", func() bool { return s.hubReadings() >= want })
	b.StopTimer()
	for range s.devices {
		<-done
	}
	b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "readings/s")
}

// BenchmarkBacklogDrain: the box takes b.N readings while the link is cut,
// then the link returns; reports the rate at which the hub receives the backlog.
func BenchmarkBacklogDrain(b *testing.B) {
	s := newStation(b, "reader1", "reader2")
	s.startHub()
	s.startBox()
	s.proxy.set("reset")
	per := max(b.N/len(s.devices), 1)
	for i, d := range s.devices {
		go func() {
			for n := range per {
				d.write(i*10_000_000 + n)
			}
		}()
	}
	want := int64(per * len(s.devices))
	eventually(b, 5*time.Minute, "the backlog taken", func() bool {
		st, err := s.status()
		return err == nil && st.Outbox != nil && st.Outbox.Records >= want
	})
	b.ResetTimer()
	s.proxy.set("pass")
	eventually(b, 5*time.Minute, "the backlog at the hub", func() bool { return s.hubReadings() >= want })
	b.StopTimer()
	b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "readings/s")
}
