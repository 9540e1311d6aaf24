package watchlist_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kordon/kordon/e2e/stationtest"
	"github.com/kordon/kordon/hub"
	"github.com/kordon/kordon/hub/watchlist"
	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/logging"
	"github.com/kordon/kordon/internal/reading"
)

// watchlistRule is the rule id the document family declares for a hit
// (drivers/passport/family.yaml).
const watchlistRule = "document-watchlist"

const crossing = stationtest.Crossing

// TestWatchlistedDocumentRaisesOneAlert is the booth-to-hub path: a real
// hub (mochi, SQLite) whose watchlist file is replaced while it runs, a
// real edged with the mrz driver on a pseudo-terminal, and a recorded
// booth trace: an ID card, a failed read, the watchlisted passport, and a
// document with a bad check digit. Exactly one watchlist alert must come
// out, naming box, device and time, and no document number or name may
// reach the alert or any log line of hub and box.
func TestWatchlistedDocumentRaisesOneAlert(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	key := bytes.Repeat([]byte{0x42}, 32)
	keyFile := filepath.Join(dir, "watchlist.key")
	writeFile(t, keyFile, fmt.Sprintf("%x\n", key))
	listFile := filepath.Join(dir, "watchlist.txt")
	writeFile(t, listFile, hashed(t, key, "C01X00T47,D\n")) // someone else, at first

	var logs lockedBuffer
	log := logging.New(&logs, slog.LevelDebug)
	cfg := stationtest.HubConfig(t, map[string]string{"booth-07": "pw7"})
	cfg.Watchlist = watchlist.Config{File: listFile, KeyFile: keyFile, Poll: 50 * time.Millisecond}
	h, err := hub.New(cfg, log.With("side", "hub"))
	if err != nil {
		t.Fatal(err)
	}
	reloaded := make(chan int, 8)
	h.Watchlist().Reloaded = func(n int, err error) {
		if err == nil {
			reloaded <- n
		}
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	rec := stationtest.Subscribe(t, h)

	// The list gains the specimen passport while the hub runs.
	replacePlain := hashed(t, key, "C01X00T47,D\nL898902C3,UTO\n")
	writeFile(t, listFile+".new", replacePlain)
	if err := os.Rename(listFile+".new", listFile); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-reloaded:
		if n != 2 {
			t.Fatalf("reloaded %d entries, want 2", n)
		}
	case <-ctx.Done():
		t.Fatal("watchlist not reloaded")
	}

	dev := stationtest.TraceDevice(t, "testdata/booth.jsonl")
	box := stationtest.BoxFor(h, "booth-07", "pw7", `
  - id: reader1
    driver: mrz
    transport: {type: serial, path: `+dev.Path+`, baud: 9600}
    options: {framing: line}
`)
	box.Log = log.With("side", "box")
	box.Start(t, ctx)
	rec.DeviceUp(t, "booth-07", "reader1")
	// As fast as the pty takes it: no reading here depends on the row gap
	// (the failed read is a bottom row with no top row before it, a failed
	// read at once), while in real time one stall of the replay longer than
	// the row gap between two rows of a document would split it.
	dev.Play(ctx, replay.Options{})

	// Alerts are published in ingest order, so the check-digit alert of the
	// last document means every earlier reading's alerts are out.
	alertsTopic := contract.Alerts(crossing)
	msgs := rec.Wait(t, alertsTopic, 60*time.Second, func(m [][]byte) bool {
		for _, b := range m {
			if bytes.Contains(b, []byte(`"document-check-failed"`)) {
				return true
			}
		}
		return false
	})
	readings := rec.WaitCount(t, contract.Readings(crossing, "booth-07", "reader1"), 4, 60*time.Second)
	var hits []contract.Alert
	for _, b := range msgs {
		var a contract.Alert
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatal(err)
		}
		if a.Rule == watchlistRule {
			hits = append(hits, a)
		}
		// The date of birth in the forms it has (the reading's ISO date, the
		// MRZ's YYMMDD), not a bare year: "1974" turns up by chance in an
		// alert's hex id or in a timestamp's nanoseconds.
		for _, secret := range []string{"L898902C3", "D23145890", "ERIKSSON", "ANNA", "1974-08-12", "740812"} {
			if strings.Contains(string(b), secret) {
				t.Errorf("alert carries personal data %q: %s", secret, b)
			}
		}
	}
	if len(hits) != 1 {
		t.Fatalf("%d watchlist alerts, want exactly 1: %s", len(hits), msgs)
	}
	a := hits[0]
	// The watchlisted passport is the third reading (after the ID card and
	// the failed read).
	var third reading.Reading
	if err := json.Unmarshal(readings[2], &third); err != nil {
		t.Fatal(err)
	}
	if a.Severity != "high" || a.Box != "booth-07" || a.Device != "reader1" || a.State != "open" ||
		len(a.Readings) != 1 || a.Readings[0].Seq != third.Seq || !a.Time.Equal(third.Origin) ||
		!strings.Contains(a.Summary, "booth-07") || !strings.Contains(a.Summary, "reader1") {
		t.Errorf("alert %+v; reading seq %d origin %v", a, third.Seq, third.Origin)
	}
	var second reading.Reading
	json.Unmarshal(readings[1], &second)
	if second.Quality.Status != reading.Bad || !strings.Contains(second.Quality.Reason, "incomplete") {
		t.Errorf("the failed read is %+v, want a bad incomplete reading", second.Quality)
	}
	for _, b := range msgs {
		if bytes.Contains(b, []byte(fmt.Sprintf(`"seq":%d`, second.Seq))) {
			t.Errorf("the failed read raised an alert: %s", b)
		}
	}
	if c := h.Counters(); c.Readings != 4 {
		t.Errorf("hub stored %d readings, want 4", c.Readings)
	}
	cancel()
	for _, secret := range []string{"L898902C3", "D23145890", "ERIKSSON", "ANNA", "740812"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("a log line carries %q", secret)
		}
	}
	if !strings.Contains(logs.String(), watchlistRule) {
		t.Errorf("the watchlist alert was not logged (by id and rule):\n%s", logs.String())
	}
}

func hashed(t *testing.T, key []byte, csv string) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := watchlist.HashFile(key, strings.NewReader(csv), &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
