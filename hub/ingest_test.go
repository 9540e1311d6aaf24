package hub

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/kordon/kordon/internal/contract"
)

// A reading is acknowledged and passed on to observers only once its
// transaction has committed: one whose commit fails gets neither (the box
// sends it again), and the next reading, committed, gets both, in order.
func TestNoPubackNorRelayBeforeCommit(t *testing.T) {
	h := hostileHub(t, nil)
	watch, err := connect(t, clientOpts{url: "tcp://" + h.MQTTAddr(), id: "watch-1", user: "watch", pw: "watchpw"})
	if err != nil {
		t.Fatal(err)
	}
	relayed := make(chan []byte, 16)
	watch.Subscribe(contract.Prefix+"/"+testCrossing+"/#", 1, func(_ paho.Client, m paho.Message) {
		if strings.HasSuffix(m.Topic(), "/readings") {
			relayed <- m.Payload()
		}
	}).Wait()
	if _, err := h.store.db.Exec(`CREATE TRIGGER fail_reading BEFORE INSERT ON readings BEGIN SELECT RAISE(ABORT, 'injected failure'); END`); err != nil {
		t.Fatal(err)
	}
	c := boxClient(t, h, "booth1")
	topic := contract.Readings(testCrossing, "booth1", "reader1")
	one := specimen(t, "booth1", "reader1", 1)
	first := c.Publish(topic, 1, false, one)
	waitFor(t, "the failed store reported", func() bool { return h.Counters().StoreFailures > 0 })
	if _, err := h.store.db.Exec(`DROP TRIGGER fail_reading`); err != nil {
		t.Fatal(err)
	}
	if tok := c.Publish(topic, 1, false, withSeq(one, 2)); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("the committed reading not acknowledged: %v", tok.Error())
	}
	// The box's PUBACKs go out in the order it sent its readings: had the
	// first had one, it would have come before the second's.
	select {
	case <-first.Done():
		t.Fatal("a reading whose commit failed was acknowledged")
	default:
	}
	select {
	case b := <-relayed:
		var r struct{ Seq int }
		if json.Unmarshal(b, &r) != nil || r.Seq != 2 {
			t.Fatalf("observer received a reading that was not stored: %s", b)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("observer received no reading")
	}
	if n := countRows(t, h, `SELECT COUNT(*) FROM readings`); n != 1 {
		t.Fatalf("%d readings stored, want 1", n)
	}
}
