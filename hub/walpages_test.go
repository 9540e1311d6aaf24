package hub

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// BenchmarkWALPages reports how many pages a commit writes to the WAL for
// document readings (each raising an alert) at several batch sizes: the
// disk load a flood of small commits makes (what fairLinger reduces).
func BenchmarkWALPages(b *testing.B) {
	for range b.N {
		walPages(b)
	}
}

func walPages(t *testing.B) {
	h := newHostileHub(t, nil)
	defer h.Close()
	h.store.ckpt.stop()
	h.store.ckpt = startCheckpointer(h.store.rd, 1<<40) // a stopped one for Close
	// One page of 4 KiB and its frame header per frame.
	wal := filepath.Join(h.cfg.DataDir, "hub.db-wal")
	size := func() int64 {
		fi, err := os.Stat(wal)
		if err != nil {
			matches, _ := filepath.Glob(filepath.Join(h.cfg.DataDir, "*-wal"))
			t.Fatalf("%v %v", err, matches)
		}
		return fi.Size()
	}
	one := specimen(t, "booth2", "reader1", 1)
	seq := uint64(0)
	for _, per := range []int{1, 4, 16, 64} {
		before := size()
		const commits = 50
		for range commits {
			var wg sync.WaitGroup
			jobs := make([]*job, per)
			for i := range jobs {
				seq++
				jobs[i] = h.ingest.readingJob("booth2", "reader1", packets.Packet{Payload: withSeq(one, seq)})
			}
			wg.Add(per)
			for _, j := range jobs {
				h.commit.Submit(j, func(error) { wg.Done() })
			}
			wg.Wait()
		}
		grew := size() - before
		t.ReportMetric(float64(grew)/4120/commits, fmt.Sprintf("pages/commit-of-%d", per))
	}
}
