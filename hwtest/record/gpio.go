package record

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/kordon/kordon/hwtest/trace"
)

// GPIO records the level of each named input line at the start and after
// every edge, until ctx ends. Lines come from periph.io (gpioreg.ByName on
// a box; gpiotest fake pins in tests). The level is read right after the
// edge is reported, so a bounce faster than that read shows as one event:
// what the trace keeps is what software on the box could have seen.
func GPIO(ctx context.Context, pins map[string]gpio.PinIn, rec *Recorder) error {
	names := make([]string, 0, len(pins))
	for n := range pins {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := pins[n].In(gpio.PullNoChange, gpio.BothEdges); err != nil {
			return fmt.Errorf("gpio %s: %w", n, err)
		}
		rec.Record(trace.Event{T: rec.stamp(time.Now()), GPIO: &trace.GPIO{Line: n, Level: level(pins[n].Read())}})
	}
	var wg sync.WaitGroup
	for _, n := range names {
		p := pins[n]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if !p.WaitForEdge(pollEvery) {
					continue
				}
				at := time.Now()
				rec.Record(trace.Event{T: rec.stamp(at), GPIO: &trace.GPIO{Line: n, Level: level(p.Read())}})
			}
		}()
	}
	wg.Wait()
	return rec.Err()
}

func level(l gpio.Level) int {
	if l == gpio.High {
		return 1
	}
	return 0
}
