package blo

import (
	"context"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kordon/kordon/blo/blotest"
	"github.com/kordon/kordon/internal/contract"
)

// countingSource counts the engine's reads of the alert log.
type countingSource struct {
	*memSource
	logReads atomic.Int64
}

func (c *countingSource) TransitionsAfter(ctx context.Context, seq int64, limit int) ([]Transition, error) {
	c.logReads.Add(1)
	return c.memSource.TransitionsAfter(ctx, seq, limit)
}

// The uplink is fed by the hub's after-commit events, not by reading its
// tables: live alerts go up with one read of the alert log at start-up
// and none after. What was committed while the engine was down goes up
// after the restart, and a commit the events skipped is read from the
// log; each alert and log entry is in the uplink stream once.
func TestUplinkFromCommitsCatchesUpAfterRestart(t *testing.T) {
	dir := t.TempDir()
	site := blotest.NewSite(t, dir, "kordai")
	cfg := &Config{Cert: site.CertFile, Key: site.KeyFile}
	dataDir, dbPath := t.TempDir(), filepath.Join(t.TempDir(), "hub.db")
	src := &countingSource{memSource: newMemSource()}
	start := func() *Engine {
		e, err := Start("kordai", cfg, dataDir, dbPath, src, nil)
		if err != nil {
			t.Fatal(err)
		}
		src.attach(e)
		if err := e.Run(); err != nil {
			t.Fatal(err)
		}
		return e
	}
	n := 0
	raise := func(k int) {
		for range k {
			n++
			src.add(contract.Alert{ID: "u" + strconv.Itoa(n), Box: "b1", Device: "d1", Rule: "sim", Severity: "low"}, "")
		}
	}
	uplink := func(e *Engine) (alerts, transitions uint64) {
		js, _ := jetstream.New(e.hub)
		s, err := js.Stream(context.Background(), UplinkStream)
		if err != nil {
			return 0, 0
		}
		info, err := s.Info(context.Background(), jetstream.WithSubjectFilter("kordon.kordai.up.>"))
		if err != nil {
			return 0, 0
		}
		return info.State.Subjects[UpSubject("kordai", KindAlert)], info.State.Subjects[UpSubject("kordai", KindTransition)]
	}

	e := start()
	raise(5)
	src.act("u1", "acknowledged", "officer-kz")
	waitFor(t, "five alerts and six log entries up", func() bool { a, tr := uplink(e); return a == 5 && tr == 6 })
	if r := src.logReads.Load(); r != 1 {
		t.Errorf("the alert log was read %d times for live alerts, want once (at start-up)", r)
	}
	e.Close()

	src.attach(nil)
	raise(3) // committed while the engine is down
	e = start()
	defer e.Close()
	waitFor(t, "the three committed while down", func() bool { a, _ := uplink(e); return a == 8 })

	// A commit the events skip: the next one shows the gap, and the log fills it.
	src.attach(nil)
	raise(1)
	src.attach(e)
	raise(1)
	waitFor(t, "the skipped commit and the next", func() bool { a, tr := uplink(e); return a == 10 && tr == 11 })
	if a, tr := uplink(e); a != 10 || tr != 11 {
		t.Fatalf("uplink holds %d alerts and %d log entries, want 10 and 11 (once each)", a, tr)
	}
}
