package hub

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// walSync makes the group commit's transactions durable: the committer
// commits them without an fsync (synchronous=NORMAL, which still syncs
// the WAL's header when the WAL starts over, and the WAL before and the
// database after each checkpoint), and this fsync of the WAL file, on
// another goroutine, covers every transaction whose frames were written
// before it began; the committer writes the next batch meanwhile. SQLite
// has no call that syncs its WAL alone, hence this one. Linux's fsync
// flushes the file, whichever descriptor names it.
type walSync struct {
	mu   sync.Mutex
	path string // the WAL: the database's path and "-wal"
	f    *os.File
}

func newWALSync(dbPath string) *walSync { return &walSync{path: dbPath + "-wal"} }

// sync fsyncs the WAL. SQLite deletes the WAL when its last connection
// closes and makes a new one on the next write: a descriptor of the old
// file would sync nothing that matters, so the file at the path is checked
// to be the one open, and a new one is opened (its directory entry synced
// too).
func (w *walSync) sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	at, err := os.Stat(w.path)
	if err != nil {
		return fmt.Errorf("the WAL: %w", err)
	}
	if w.f != nil {
		if open, err := w.f.Stat(); err != nil || !os.SameFile(open, at) {
			w.f.Close()
			w.f = nil
		}
	}
	if w.f == nil {
		f, err := os.Open(w.path)
		if err != nil {
			return fmt.Errorf("the WAL: %w", err)
		}
		if err := syncDir(filepath.Dir(w.path)); err != nil {
			f.Close()
			return err
		}
		w.f = f
	}
	return w.f.Sync()
}

func (w *walSync) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("the database's directory: %w", err)
	}
	return nil
}
