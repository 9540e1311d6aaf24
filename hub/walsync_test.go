package hub

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kordon/kordon/hub/groupcommit"
	"github.com/kordon/kordon/internal/contract"
)

// TestWALSyncFollowsANewFile: SQLite makes a new WAL after its last
// connection closed; the sync must then sync the new file, not the
// descriptor of the old one, and fail plainly when there is none.
func TestWALSyncFollowsANewFile(t *testing.T) {
	db := filepath.Join(t.TempDir(), "hub.db")
	if err := os.WriteFile(db+"-wal", []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := newWALSync(db)
	defer w.close()
	if err := w.sync(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(db + "-wal"); err != nil {
		t.Fatal(err)
	}
	if err := w.sync(); err == nil {
		t.Fatal("a sync without a WAL reported success")
	}
	if err := os.WriteFile(db+"-wal", []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := w.sync(); err != nil {
		t.Fatal(err)
	}
	open, err := w.f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	at, err := os.Stat(db + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(open, at) {
		t.Fatal("the sync kept the descriptor of the WAL that was removed")
	}
}

// TestAFailedSyncStopsIngest: once the WAL cannot be synced, the reading
// of that commit is not acknowledged, Failed tells hubd (which exits for
// a restart), and no later reading is stored: the boxes keep them all.
func TestAFailedSyncStopsIngest(t *testing.T) {
	lw := newLogWatch()
	h := lossHub(t, lw)
	topic := contract.Readings(testCrossing, "booth1", "reader1")
	c := boxClient(t, h, "booth1")
	mustPublish(t, c, topic, badDocument(t, "", 1))

	h.store.wal.mu.Lock()
	h.store.wal.path = filepath.Join(t.TempDir(), "gone", "hub.db-wal") // its stat fails: as a failed fsync
	h.store.wal.mu.Unlock()
	failed := lw.On("box will resend")
	second := c.Publish(topic, 1, false, badDocument(t, "", 2))
	select {
	case err := <-h.Failed():
		if !errors.Is(err, groupcommit.ErrNotDurable) {
			t.Fatalf("Failed told %v, want ErrNotDurable", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Failed never told of the failed sync")
	}
	waitLogged(t, failed, "the failed store of reading 2")
	if second.WaitTimeout(0) && second.Error() == nil {
		t.Fatal("the reading whose sync failed was acknowledged")
	}
	failed = lw.On("box will resend")
	c.Publish(topic, 1, false, badDocument(t, "", 3))
	waitLogged(t, failed, "the failed store of reading 3")
	if n := countRows(t, h, `SELECT COUNT(*) FROM readings WHERE seq = 3`); n != 0 {
		t.Fatalf("a reading stored after the failed sync: %d rows", n)
	}
	if got := h.Counters().Readings; got != 1 {
		t.Errorf("%d readings counted, want 1: the one before the failure", got)
	}
	if got := h.Counters().Alerts; got != 1 {
		t.Errorf("%d alerts counted, want 1: none of the unsynced batch is published", got)
	}
}

func waitLogged(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("never saw %s", what)
	}
}
