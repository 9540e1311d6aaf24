package hub

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/kordon/kordon/internal/contract"
)

// One commit of a full batch of documents, each raising an alert, puts
// every alert on the crossing's alert topic: the publisher's queue holds
// what one batch can raise, so a larger commit batch costs no live notice.
func TestEveryAlertOfAFullBatchReachesTheAlertTopic(t *testing.T) {
	const n = 2500 // more than one batch of the old default (1024), within the default
	h := hostileHub(t, func(c *Config) {
		// The batch's first job waits for the others, so that one commit holds them all.
		c.Ingest.CommitWait = Duration(2 * time.Second)
	})
	var got atomic.Int64
	if err := h.broker.Subscribe(contract.Alerts(testCrossing), 1, func(*mqtt.Client, packets.Subscription, packets.Packet) { got.Add(1) }); err != nil {
		t.Fatal(err)
	}
	one := specimen(t, "booth2", "reader1", 1)
	origin := originOf(t, one)
	jobs := make([]*job, n)
	for i := range jobs {
		seq := uint64(i + 1)
		// Each document read a millisecond after the one before: n alerts, not one.
		msg := bytes.Replace(withSeq(one, seq), []byte(origin), []byte(mustParse(t, origin).Add(time.Duration(seq)*time.Millisecond).Format(time.RFC3339Nano)), 1)
		jobs[i] = h.ingest.readingJob("booth2", "reader1", packets.Packet{Payload: msg})
	}
	var wg sync.WaitGroup
	wg.Add(n)
	for _, j := range jobs {
		if err := h.commit.Submit(j, func(err error) {
			if err != nil {
				t.Error(err)
			}
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	var stored int64
	h.store.rd.QueryRow(`SELECT COUNT(*) FROM alerts`).Scan(&stored)
	if stored != n {
		t.Fatalf("%d alerts stored, want %d (one per document)", stored, n)
	}
	// The publisher works off its queue after the commit.
	for deadline := time.Now().Add(30 * time.Second); got.Load() < stored; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of the batch's %d alerts reached the alert topic", got.Load(), stored)
		}
	}
}
