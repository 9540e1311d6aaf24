package hub

import (
	"fmt"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// BenchmarkFairShare is the fair share's bookkeeping as hubbench's 200
// boxes cause it: every reading is admitted on its box's goroutine and
// acknowledged on its acker's, all through one fairShare. 190 boxes drain
// a window, acknowledged five at a time as commits do (heavy: each admit
// asks whether the hub is congested), 10 are booths with one reading at a
// time (light: their marks are what that question scans). The target is out of reach, so no one is ever held and
// the figure is the bookkeeping alone. One op is one reading, admitted
// and acknowledged; cpu-ns/op is the process's CPU time per reading (see
// BenchmarkReadingJob). Run it beside the same benchmark built from the
// code before a change.
func BenchmarkFairShare(b *testing.B) {
	const boxes, booths, window, commitShare = 200, 10, 32, 5
	f := newFairShare(DefaultFairShare)
	f.target = time.Hour
	clients := make([]*mqtt.Client, boxes)
	for i := range clients {
		clients[i] = &mqtt.Client{}
	}
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	var wg sync.WaitGroup
	for i := range boxes {
		n := b.N / boxes
		if i < b.N%boxes {
			n++
		}
		inflight := window
		if i < booths {
			inflight = 1
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, identity := clients[i], fmt.Sprintf("booth%d", i)
			acks := make(chan uint16, inflight)
			done := make(chan struct{})
			go func() { // the box's acker: a commit's worth at a time, its window kept full
				defer close(done)
				var held []uint16
				for id := range acks {
					held = append(held, id)
					if len(held) >= inflight {
						k := min(commitShare, len(held))
						for _, id := range held[:k] {
							f.acked(cl, id)
						}
						held = append(held[:0], held[k:]...)
					}
				}
				for _, id := range held {
					f.acked(cl, id)
				}
			}()
			for k := range n {
				id := uint16(k%65535 + 1)
				f.admit(cl, identity, id)
				acks <- id
			}
			close(acks)
			<-done
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	for _, cl := range clients {
		f.gone(cl)
	}
}
