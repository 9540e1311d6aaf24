package outbox

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
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

// routineEnvelope is a thermometer heartbeat as edged renders it (465 bytes).
func routineEnvelope(seq uint64, i int) []byte {
	origin := time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC).Add(time.Duration(i) * 7919 * time.Microsecond).Format(time.RFC3339Nano)
	return fmt.Appendf(nil, `{"schema":"kordon.reading/2","crossing":"kz-khorgos","box":"booth-01","device":"thermo1","kind":"temperature","driver":"thermometer","incarnation":"3f9a1c0d7e2b4a65","seq":%d,"origin":"%s","clock":"synced","quality":{"status":"ok"},"payload":{"sensor":"lane-1","model":"calex-pyrousb","celsius":36.%d,"measured_celsius":36.%d,"housing_celsius":25,"emissivity":0.98,"fever":false,"fever_threshold":37.5,"events":[],"cause":"heartbeat"}}`,
		seq, origin, i%10, i%10)
}

// TestRoutineRecordCompact: a routine reading costs at most 256 bytes in
// the outbox, and comes back byte for byte.
func TestRoutineRecordCompact(t *testing.T) {
	o, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	const n = 1000
	want := map[uint64][]byte{}
	for i := range n {
		o.Append("thermo1", Routine, func(seq uint64) ([]byte, error) {
			want[seq] = routineEnvelope(seq, i)
			return want[seq], nil
		})
	}
	per := float64(o.Stats().AppendBytes) / n
	t.Logf("%.0f bytes per routine reading (envelope %d)", per, len(want[1]))
	if per > 256 {
		t.Fatalf("%.0f bytes per routine reading, want <= 256", per)
	}
	for range n {
		r := next(t, o)
		if string(r.JSON) != string(want[r.Seq]) {
			t.Fatalf("seq %d came back as\n%s\nwant\n%s", r.Seq, r.JSON, want[r.Seq])
		}
	}
}

// BenchmarkRoutineRecord reports the bytes appended per routine reading
// (one device, group commit with 4 writers).
func BenchmarkRoutineRecord(b *testing.B) {
	o, err := Open(b.TempDir(), Options{MaxBytes: 4 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	b.ResetTimer()
	for i := range b.N {
		o.Append("thermo1", Routine, func(seq uint64) ([]byte, error) { return routineEnvelope(seq, i), nil })
	}
	b.StopTimer()
	b.ReportMetric(float64(o.Stats().AppendBytes)/float64(b.N), "record-B/reading")
	b.ReportMetric(float64(len(routineEnvelope(1, 1))), "envelope-B")
}
