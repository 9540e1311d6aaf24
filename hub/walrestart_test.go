package hub

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// TestWALStartsOverUnderSteadyCommits: with the committer never idle (the
// next batch is always queued as one commits), the WAL still starts over
// once it passes the checkpointer's mark, long before the writer's own
// backstop (four times as long). Without the hand-over between batches the
// WAL grew until the backstop's checkpoint, inside a commit.
func TestWALStartsOverUnderSteadyCommits(t *testing.T) {
	h := newHostileHub(t, func(c *Config) { c.Ingest.CommitBatch = 64 })
	defer h.Close()
	const restartAt = 256 // frames: 1 MiB
	h.store.ckpt.restartAt.Store(restartAt)
	h.store.ckpt.every.Store(int64(20 * time.Millisecond))
	wal := filepath.Join(h.cfg.DataDir, "hub.db-wal")
	header := func() (size int64, restarts uint32) {
		b, err := os.ReadFile(wal)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 32 {
			return int64(len(b)), 0
		}
		return int64(len(b)), binary.BigEndian.Uint32(b[12:16]) // the checkpoint sequence: one more at every start over
	}
	_, before := header()
	one := specimen(t, "booth1", "reader1", 1)
	const readings = 6000
	jobs := make([]*job, readings)
	for i := range jobs {
		jobs[i] = h.ingest.readingJob("booth1", "reader1", packets.Packet{Payload: withSeq(one, uint64(i+1))})
	}
	submitAll(t, h, jobs) // the committer is never idle
	var stored int
	h.store.rd.QueryRow(`SELECT COUNT(*) FROM readings`).Scan(&stored)
	size, after := header()
	frames := size / (4096 + 24)
	t.Logf("%d readings stored; the WAL started over %d times, its file is %d frames long (mark %d, backstop %d)", stored, after-before, frames, restartAt, 4*walRestartFrames)
	if stored != readings {
		t.Fatalf("%d readings stored, want %d", stored, readings)
	}
	if after == before {
		t.Fatalf("the WAL never started over while %d frames were written (mark %d)", frames, restartAt)
	}
	// Never started over, the WAL grows to about 11,000 frames here.
	if frames > 8*restartAt {
		t.Errorf("the WAL grew to %d frames, want it to start over near the mark of %d", frames, restartAt)
	}
}
