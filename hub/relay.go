package hub

import (
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// relayTopics tells whether anyone subscribes to a reading's topic, for the
// relay of every stored reading. Asking mochi's index each time
// (TopicsIndex.Subscribers) builds four maps per reading; the answer only
// changes when a subscription does, so it is kept per topic and asked
// again after any subscribe or unsubscribe. Each change bumps gen in
// mochi's OnSubscribed hook, which runs after the subscription is in the
// index and before its SUBACK is sent: a reading relayed after a client
// was told it is subscribed finds its topic's answer older than gen, and
// asks the index again. (A subscription a session inherits on reconnect
// was in the index already under the same client id, so nothing changes
// that an answer kept would miss.) A stale answer after an unsubscribe
// costs at most a publish to nobody.
type relayTopics struct {
	mqtt.HookBase
	gen   atomic.Uint64
	asked sync.Map // topic -> relayAnswer
	kept  atomic.Int64
	// subscribed is the broker's own answer (its index).
	subscribed func(topic string) bool
}

type relayAnswer struct {
	gen uint64
	any bool
}

// relayTopicsKept bounds the topics remembered: past it, all are
// forgotten and asked afresh (a station has a few hundred devices' topics).
const relayTopicsKept = 1 << 14

func newRelayTopics(subscribed func(topic string) bool) *relayTopics {
	return &relayTopics{subscribed: subscribed}
}

func (r *relayTopics) ID() string { return "kordon-relay-topics" }

// Provides is asked for every hook and event of every packet: two
// comparisons, no more.
func (r *relayTopics) Provides(b byte) bool {
	return b == mqtt.OnSubscribed || b == mqtt.OnUnsubscribed
}

func (r *relayTopics) OnSubscribed(*mqtt.Client, packets.Packet, []byte) { r.gen.Add(1) }

func (r *relayTopics) OnUnsubscribed(*mqtt.Client, packets.Packet) { r.gen.Add(1) }

// any reports whether topic has a subscriber, as of the last subscription
// change that could be known when it was called.
func (r *relayTopics) any(topic string) bool {
	gen := r.gen.Load() // before asking: a change while asking is asked again next time
	if v, ok := r.asked.Load(topic); ok {
		if a := v.(relayAnswer); a.gen == gen {
			return a.any
		}
	}
	yes := r.subscribed(topic)
	if _, had := r.asked.Swap(topic, relayAnswer{gen: gen, any: yes}); !had && r.kept.Add(1) > relayTopicsKept {
		r.asked.Clear()
		r.kept.Store(0)
	}
	return yes
}
