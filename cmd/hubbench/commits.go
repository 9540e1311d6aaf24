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
	return b.String()
}
