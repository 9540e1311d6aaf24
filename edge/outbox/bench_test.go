package outbox

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
)

// writeBytes is what this process has sent to the block layer
// (/proc/self/io write_bytes): data pages and preallocation, not the
// filesystem journal, which the kernel writes for everyone.
func writeBytes() int64 {
	b, _ := os.ReadFile("/proc/self/io")
	for _, l := range strings.Split(string(b), "\n") {
		var v int64
		if n, _ := fmt.Sscanf(l, "write_bytes: %d", &v); n == 1 {
			return v
		}
	}
	return -1
}

// a typical document reading envelope is 1-1.5 KB with raw rows.
const benchPad = 900

// BenchmarkAppend takes readings one at a time (the worst case: every
// reading its own fdatasync) and reports bytes written to disk per reading.
func BenchmarkAppend(b *testing.B) {
	o, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	start := writeBytes()
	b.ResetTimer()
	for range b.N {
		o.Append("reader1", Protected, func(seq uint64) ([]byte, error) { return body("reader1", seq, benchPad), nil })
	}
	b.StopTimer()
	st := o.Stats()
	b.ReportMetric(float64(writeBytes()-start)/float64(b.N), "disk-B/reading")
	b.ReportMetric(float64(st.AppendBytes)/float64(b.N), "record-B/reading")
}

// BenchmarkAppendParallel: several devices at once share fdatasyncs.
func BenchmarkAppendParallel(b *testing.B) {
	o, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	start := writeBytes()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		dev := fmt.Sprintf("dev%p", pb)
		for pb.Next() {
			o.Append(dev, Routine, func(seq uint64) ([]byte, error) { return body(dev, seq, benchPad), nil })
		}
	})
	b.StopTimer()
	st := o.Stats()
	b.ReportMetric(float64(writeBytes()-start)/float64(b.N), "disk-B/reading")
	b.ReportMetric(float64(st.Appended)/float64(st.Syncs), "readings/fdatasync")
}

// BenchmarkDrain reads and acknowledges a backlog (the outbox side of a
// drain; faults.BenchmarkBacklogDrain measures it through the hub).
func BenchmarkDrain(b *testing.B) {
	o, err := Open(b.TempDir(), Options{MaxBytes: 4 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	for i := range b.N {
		dev := fmt.Sprintf("dev%d", i%4)
		if _, err := o.Append(dev, Routine, func(seq uint64) ([]byte, error) { return body(dev, seq, benchPad), nil }); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		r, err := o.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		o.Ack(r.Incarnation, r.Device, r.Seq)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "readings/s")
}
