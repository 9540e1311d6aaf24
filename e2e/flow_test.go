package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/reading"
)

// writeSpecimenTrace writes a trace of n specimen reads, as fast as the
// reader can send them.
func writeSpecimenTrace(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "many.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := trace.NewWriter(f, trace.Header{Driver: "mrz", Options: map[string]any{"framing": "line"}, Recorded: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		w.Write(trace.Event{Dev: []byte("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\r\nL898902C36UTO7408122F1204159ZE184226B<<<<<10\r\n")})
	}
	return path
}

// TestEveryReadingArrivesInOrder: a burst of documents at one booth reaches
// the hub complete, once each, in sequence order.
func TestEveryReadingArrivesInOrder(t *testing.T) {
	const n = 200
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := startHub(t, map[string]string{"booth-03": "pw3"})
	broker := "tcp://" + h.MQTTAddr()
	rec := subscribe(t, broker, "watch", "watchpw", contract.Prefix+"/"+crossing+"/#")
	devPath, play := replayDevice(t, writeSpecimenTrace(t, n), false)
	startBox(t, ctx, broker, "booth-03", "pw3", devPath)
	rec.DeviceUp(t, "booth-03", "reader1")
	play(ctx)
	msgs := rec.WaitCount(t, contract.Readings(crossing, "booth-03", "reader1"), n, 90*time.Second)
	for i, m := range msgs {
		if r := decode[reading.Reading](t, m); r.Seq != uint64(i+1) {
			t.Fatalf("message %d has seq %d: out of order or duplicated", i, r.Seq)
		}
	}
	if c := h.Counters(); c.Readings != n {
		t.Errorf("hub stored %d readings, want %d (duplicates dropped: %d)", c.Readings, n, c.Duplicates)
	}
}
