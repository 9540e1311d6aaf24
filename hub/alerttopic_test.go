package hub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/kordon/kordon/hub/events"
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
	all := make(chan struct{})
	if err := h.broker.Subscribe(contract.Alerts(testCrossing), 1, func(*mqtt.Client, packets.Subscription, packets.Packet) {
		if got.Add(1) == n {
			close(all)
		}
	}); err != nil {
		t.Fatal(err)
	}
	commitDocuments(t, h, n)
	var stored int64
	h.store.rd.QueryRow(`SELECT COUNT(*) FROM alerts`).Scan(&stored)
	if stored != n {
		t.Fatalf("%d alerts stored, want %d (one per document)", stored, n)
	}
	// The publisher works off its queue after the commit.
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		t.Fatalf("%d of the batch's %d alerts reached the alert topic", got.Load(), stored)
	}
	if u := h.alerts.unpublished.Load(); u != 0 {
		t.Errorf("%d alerts counted unpublished", u)
	}
}

// An alert the publisher cannot put on the alert topic (its queue full, or
// the broker refusing it) is stored all the same, and counted, so that
// /metrics shows live notices missed rather than hiding them.
func TestUnpublishedAlertsAreCounted(t *testing.T) {
	release := make(chan struct{})
	var published atomic.Int64
	p := newAlertPublisher(func([]byte) error {
		<-release
		if published.Add(1) == 1 {
			return errors.New("broker closing")
		}
		return nil
	}, 2, slog.New(slog.DiscardHandler))
	batch := &events.Batch{}
	for i := range 5 {
		batch.Alerts = append(batch.Alerts, contract.Alert{ID: fmt.Sprint("a", i)})
	}
	p.Committed(batch) // nothing runs the queue yet: two queued, three over
	if got := p.unpublished.Load(); got != 3 {
		t.Fatalf("unpublished after a full queue: %d, want 3", got)
	}
	done := make(chan struct{})
	go func() { p.run(); close(done) }()
	release <- struct{}{} // the first publish fails
	release <- struct{}{}
	p.stop()
	<-done
	if got := p.unpublished.Load(); got != 4 {
		t.Fatalf("unpublished after a failed publish: %d, want 4", got)
	}
}

// The alert topic carries each alert as the store holds it: the JSON made
// once for the store is what is published, byte for byte, and it is the
// alert's own encoding.
func TestAlertTopicCarriesTheStoredAlert(t *testing.T) {
	const n = 5
	h := hostileHub(t, nil)
	got := make(chan []byte, n)
	if err := h.broker.Subscribe(contract.Alerts(testCrossing), 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		got <- bytes.Clone(pk.Payload)
	}); err != nil {
		t.Fatal(err)
	}
	commitDocuments(t, h, n)
	for range n {
		var js []byte
		select {
		case js = <-got:
		case <-time.After(30 * time.Second):
			t.Fatal("an alert did not reach the alert topic")
		}
		var a contract.Alert
		if err := json.Unmarshal(js, &a); err != nil {
			t.Fatalf("alert topic payload %q: %v", js, err)
		}
		var body string
		if err := h.store.rd.QueryRow(`SELECT body FROM alerts WHERE id = ?`, a.ID).Scan(&body); err != nil {
			t.Fatalf("alert %s: %v", a.ID, err)
		}
		if body != string(js) {
			t.Errorf("alert %s published as\n%s\nstored as\n%s", a.ID, js, body)
		}
		if again, _ := json.Marshal(a); !bytes.Equal(again, js) {
			t.Errorf("alert %s published as\n%s\nits encoding is\n%s", a.ID, js, again)
		}
	}
}

// commitDocuments commits n documents of booth2's reader1, each read a
// millisecond after the one before (so each raises an alert of its own),
// and waits for every commit.
func commitDocuments(t *testing.T, h *Hub, n int) {
	t.Helper()
	one := specimen(t, "booth2", "reader1", 1)
	origin := originOf(t, one)
	jobs := make([]*job, n)
	for i := range jobs {
		seq := uint64(i + 1)
		// Each document read a millisecond after the one before: n alerts, not one.
		msg := bytes.Replace(withSeq(one, seq), []byte(origin), []byte(mustParse(t, origin).Add(time.Duration(seq)*time.Millisecond).Format(time.RFC3339Nano)), 1)
		jobs[i] = h.ingest.readingJob("booth2", "reader1", packets.Packet{Payload: msg})
	}
	submitAll(t, h, jobs)
}

// submitAll hands jobs to the committer as fast as it takes them (Submit
// waits while a batch is queued) and waits until every one committed.
func submitAll(t *testing.T, h *Hub, jobs []*job) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(len(jobs))
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
}
