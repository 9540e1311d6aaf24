package main

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kordon/kordon/hub/groupcommit"
)

// commitLog keeps the group commit's timings of a round in this process,
// to show where a latency tail comes from.
type commitLog struct {
	mu sync.Mutex
	bs []groupcommit.BatchTimings
}

func (l *commitLog) add(t groupcommit.BatchTimings) {
	l.mu.Lock()
	l.bs = append(l.bs, t)
	l.mu.Unlock()
}

func (l *commitLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.bs) == 0 {
		return "no commits"
	}
	var b strings.Builder
	jobs := make([]int, len(l.bs))
	for i, t := range l.bs {
		jobs[i] = t.Jobs
	}
	slices.Sort(jobs)
	fmt.Fprintf(&b, "%d commits of p50 %d p99 %d max %d readings", len(l.bs), jobs[len(jobs)/2], jobs[min(len(jobs)-1, len(jobs)*99/100)], jobs[len(jobs)-1])
	part := func(name string, f func(groupcommit.BatchTimings) time.Duration) {
		v := make([]time.Duration, len(l.bs))
		for i, t := range l.bs {
			v[i] = f(t)
		}
		slices.Sort(v)
		q := func(x float64) time.Duration {
			return v[min(len(v)-1, int(x*float64(len(v))))].Round(10 * time.Microsecond)
		}
		fmt.Fprintf(&b, "; %s p50 %v p99 %v max %v", name, q(0.5), q(0.99), v[len(v)-1].Round(10*time.Microsecond))
	}
	part("queued", func(t groupcommit.BatchTimings) time.Duration { return t.Queued })
	part("apply", func(t groupcommit.BatchTimings) time.Duration { return t.Apply })
	part("COMMIT", func(t groupcommit.BatchTimings) time.Duration { return t.Commit })
	part("sync", func(t groupcommit.BatchTimings) time.Duration { return t.Sync })
	part("notify", func(t groupcommit.BatchTimings) time.Duration { return t.Notify })
	// Between one batch's COMMIT and the next batch's start: the committer
	// handing the batch on, or waiting for its first job.
	bs := slices.Clone(l.bs)
	slices.SortFunc(bs, func(a, b groupcommit.BatchTimings) int { return a.Start.Compare(b.Start) })
	gaps := make([]time.Duration, 0, len(bs))
	for i := 1; i < len(bs); i++ {
		p := bs[i-1]
		gaps = append(gaps, bs[i].Start.Sub(p.Start.Add(p.Fill+p.Apply+p.Commit)))
	}
	if len(bs) > 1 {
		var apply, commit, sync time.Duration
		for _, t := range bs[:len(bs)-1] {
			apply, commit, sync = apply+t.Apply, commit+t.Commit, sync+t.Sync
		}
		span := bs[len(bs)-1].Start.Sub(bs[0].Start)
		fmt.Fprintf(&b, "; of the %v from the first batch to the last, apply %v, COMMIT %v (sync %v beside them)",
			span.Round(time.Millisecond), apply.Round(time.Millisecond), commit.Round(time.Millisecond), sync.Round(time.Millisecond))
	}
	if len(gaps) > 0 {
		slices.Sort(gaps)
		fmt.Fprintf(&b, "; between batches p50 %v p99 %v", gaps[len(gaps)/2].Round(10*time.Microsecond), gaps[min(len(gaps)-1, len(gaps)*99/100)].Round(10*time.Microsecond))
	}
	return b.String()
}
