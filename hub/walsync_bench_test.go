package hub

import (
	"sync"
	"testing"
	"time"

	"github.com/kordon/kordon/hub/groupcommit"
)

// BenchmarkGroupCommitSync is the group commit's rate with the WAL's fsync
// on the releasing goroutine, beside the same commits each syncing in
// their COMMIT (as before), in one run: hubbench's mixed readings of 200
// boxes, parsed before the clock starts, at the default batch of 4096.
// What it shows is the committer's wall time per batch: the fsync it no
// longer waits for, and the callers it no longer releases itself.
func BenchmarkGroupCommitSync(b *testing.B) {
	for _, c := range []struct {
		name       string
		overlapped bool
	}{{"sync=overlapped", true}, {"sync=in-commit", false}} {
		b.Run(c.name, func(b *testing.B) {
			const batch = 4096
			h := benchHub(b, batch)
			next := benchJobs(b, h, "hubbench")
			jobs := make([]*job, b.N)
			for i := range jobs {
				jobs[i] = next()
			}
			opt := groupcommit.Options[*job]{MaxBatch: batch}
			if c.overlapped {
				opt.Sync = h.store.wal.sync
			}
			gc := groupcommit.New[*job](h.store.db, h.pipeline, opt)
			defer gc.Close()
			var wg sync.WaitGroup
			wg.Add(len(jobs))
			b.ResetTimer()
			start := time.Now()
			for _, j := range jobs {
				if err := gc.Submit(j, func(err error) {
					if err != nil {
						b.Error(err)
					}
					wg.Done()
				}); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
			b.ReportMetric(float64(len(jobs))/time.Since(start).Seconds(), "readings/s")
		})
	}
}
