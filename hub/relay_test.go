package hub

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/kordon/kordon/internal/contract"
)

// An observer that subscribes after the relay has found a reading's topic
// without subscribers receives the readings stored after its SUBACK, and
// one that unsubscribed receives none: the relay's kept answer follows
// every subscription change.
func TestRelayFollowsSubscriptions(t *testing.T) {
	h := hostileHub(t, nil)
	c := boxClient(t, h, "booth1")
	topic := contract.Readings(testCrossing, "booth1", "reader1")
	one := specimen(t, "booth1", "reader1", 1)
	send := func(seq uint64) {
		t.Helper()
		if tok := c.Publish(topic, 1, false, withSeq(one, seq)); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
			t.Fatalf("reading %d not acknowledged: %v", seq, tok.Error())
		}
	}
	send(1) // stored and relayed to nobody: the relay keeps "no subscriber"
	watch, err := connect(t, clientOpts{url: "tcp://" + h.MQTTAddr(), id: "watch-1", user: "watch", pw: "watchpw"})
	if err != nil {
		t.Fatal(err)
	}
	relayed := make(chan int, 16)
	filter := contract.Prefix + "/" + testCrossing + "/#"
	if tok := watch.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		if strings.HasSuffix(m.Topic(), "/readings") {
			var r struct{ Seq int }
			json.Unmarshal(m.Payload(), &r)
			relayed <- r.Seq
		}
	}); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	send(2)
	select {
	case seq := <-relayed:
		if seq != 2 {
			t.Fatalf("observer received reading %d, want 2", seq)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a reading stored after the observer subscribed was not relayed to it")
	}
	if tok := watch.Unsubscribe(filter); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("unsubscribe: %v", tok.Error())
	}
	send(3)
	// Reading 4 reaches a second observer, subscribed after 3 was stored:
	// had 3 gone to the first, it would have arrived before.
	other, err := connect(t, clientOpts{url: "tcp://" + h.MQTTAddr(), id: "watch-2", user: "watch", pw: "watchpw"})
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan int, 16)
	if tok := other.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		var r struct{ Seq int }
		json.Unmarshal(m.Payload(), &r)
		second <- r.Seq
	}); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	send(4)
	select {
	case seq := <-second:
		if seq != 4 {
			t.Fatalf("second observer received reading %d, want 4", seq)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a reading stored after the second observer subscribed was not relayed to it")
	}
	select {
	case seq := <-relayed:
		t.Fatalf("an observer that unsubscribed received reading %d", seq)
	default:
	}
}
