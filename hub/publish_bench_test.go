package hub

import (
	"sync"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/kordon/kordon/internal/contract"
)

// BenchmarkPublishPath is a reading's whole way through the hub as a box
// sends it: three boxes publish at QoS 1 through the real listener, each
// with a window of unacknowledged readings as edged keeps, and the hub
// reads, parses, commits and acknowledges them. One op is one reading,
// acknowledged. The boxes' paho clients run in this process, so
// cpu-ns/op, B/op and allocs/op count theirs too: compare it only with
// the same benchmark built from the code before a change, in the same
// run.
func BenchmarkPublishPath(b *testing.B) {
	const boxes, window = 3, 64
	h := hostileHub(b, func(c *Config) { c.Limits.Rate = 1e6 })
	clients := make([]paho.Client, boxes)
	bodies := make([][]byte, boxes)
	for i := range clients {
		box := []string{"booth1", "booth2", "booth3"}[i]
		clients[i] = boxClient(b, h, box)
		bodies[i] = specimen(b, box, "reader1", 1)
	}
	var next [boxes]uint64
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	var wg sync.WaitGroup
	for i, c := range clients {
		n := b.N / boxes
		if i < b.N%boxes {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			box := []string{"booth1", "booth2", "booth3"}[i]
			topic := contract.Readings(testCrossing, box, "reader1")
			inflight := make(chan paho.Token, window)
			for range n {
				if len(inflight) == cap(inflight) {
					if tok := <-inflight; tok.Wait() && tok.Error() != nil {
						b.Error(tok.Error())
					}
				}
				next[i]++
				inflight <- c.Publish(topic, 1, false, withSeq(bodies[i], next[i]))
			}
			for len(inflight) > 0 {
				if tok := <-inflight; tok.Wait() && tok.Error() != nil {
					b.Error(tok.Error())
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
