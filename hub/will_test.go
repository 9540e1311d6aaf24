package hub

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/kordon/kordon/internal/contract"
)

// A box that drops without DISCONNECT leaves its Will, its own offline
// state, which mochi publishes inside the broker: the hub's box health
// must show it offline, as it would an offline state the box sent itself.
func TestWillOfflineStateReachesBoxHealth(t *testing.T) {
	h := hostileHub(t, nil)
	state := func(s string) []byte {
		b, _ := json.Marshal(contract.State{Schema: contract.StateV1, Crossing: testCrossing, Box: "booth1", State: s, Time: time.Now().UTC()})
		return b
	}
	topic := contract.BoxState(testCrossing, "booth1")
	conn, err := net.Dial("tcp", h.MQTTAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: boxID("booth1"),
			UsernameFlag: true, Username: []byte("booth1"), PasswordFlag: true, Password: []byte("pw1"),
			WillFlag: true, WillTopic: topic, WillPayload: state("offline"), WillQos: 1, WillRetain: true}}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := conn.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		t.Fatalf("CONNECT with the box's own Will refused: % x %v", ack, err)
	}
	pub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: true}, TopicName: topic, Payload: state("online")}
	buf.Reset()
	if err := pub.PublishEncode(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	online := func(v string) func() bool {
		return func() bool {
			rec := httptest.NewRecorder()
			h.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
			return strings.Contains(rec.Body.String(), `kordon_hub_box_online{box="booth1"} `+v)
		}
	}
	waitFor(t, "booth1 online in box health", online("1"))
	conn.Close() // dropped: no DISCONNECT, so the broker sends the Will
	waitFor(t, "booth1 offline in box health after its Will", online("0"))
}

// disconnects tells a test when the broker has finished with a client's
// connection: mochi calls OnDisconnect on the connection's goroutine after
// it sent (or dropped) the Will, so nothing of that connection follows.
type disconnects struct {
	mqtt.HookBase
	ch chan *mqtt.Client
}

func (d *disconnects) ID() string                                    { return "test-disconnects" }
func (d *disconnects) Provides(b byte) bool                          { return b == mqtt.OnDisconnect }
func (d *disconnects) OnDisconnect(cl *mqtt.Client, _ error, _ bool) { d.ch <- cl }

// willWatch is an observer on booth1's state topic: what the broker
// delivers there, in order.
type willWatch struct {
	t     *testing.T
	h     *Hub
	topic string
	got   chan []byte
	gone  chan *mqtt.Client
}

func newWillWatch(t *testing.T, h *Hub) *willWatch {
	w := &willWatch{t: t, h: h, topic: contract.BoxState(testCrossing, "booth1"), got: make(chan []byte, 64), gone: make(chan *mqtt.Client, 64)}
	if err := h.broker.AddHook(&disconnects{ch: w.gone}, nil); err != nil {
		t.Fatal(err)
	}
	obs, err := connect(t, clientOpts{url: "tcp://" + h.MQTTAddr(), id: "watch-will", user: "watch", pw: "watchpw"})
	if err != nil {
		t.Fatal(err)
	}
	tok := obs.Subscribe(w.topic, 1, func(_ paho.Client, m paho.Message) { w.got <- m.Payload() })
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("observer subscribe: %v", tok.Error())
	}
	return w
}

func booth1State(s string) []byte {
	b, _ := json.Marshal(contract.State{Schema: contract.StateV1, Crossing: testCrossing, Box: "booth1", State: s, Time: time.Now().UTC()})
	return b
}

// online connects booth1 as edged does (its offline state as its Will,
// then its online state, retained) and waits until the observer saw it.
func (w *willWatch) online() paho.Client {
	w.t.Helper()
	opts := paho.NewClientOptions().AddBroker("tcp://"+w.h.MQTTAddr()).SetClientID(boxID("booth1")).SetUsername("booth1").SetPassword("pw1").
		SetAutoReconnect(false).SetConnectTimeout(20*time.Second).SetCleanSession(true).SetProtocolVersion(4).
		SetBinaryWill(w.topic, booth1State("offline"), 1, true)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		w.t.Fatalf("booth1 with its own Will refused: %v", tok.Error())
	}
	if tok := c.Publish(w.topic, 1, true, booth1State("online")); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		w.t.Fatalf("online state: %v", tok.Error())
	}
	w.until(`"online"`)
	return c
}

// until reads what the observer got up to a message containing want and
// fails on an offline state before it.
func (w *willWatch) until(want string) {
	w.t.Helper()
	for {
		select {
		case m := <-w.got:
			if bytes.Contains(m, []byte(want)) {
				return
			}
			if bytes.Contains(m, []byte(`"offline"`)) {
				w.t.Fatalf("the Will was delivered: %s", m)
			}
		case <-time.After(10 * time.Second):
			w.t.Fatalf("the observer never got %s", want)
		}
	}
}

// noWillSent waits until the broker is done with old (its Will sent or
// dropped), then checks through a marker sent after it that the observer
// got no offline state, that booth1's retained state is still online and
// that box health shows it online.
func (w *willWatch) noWillSent(old *mqtt.Client) {
	w.t.Helper()
	for cl := range w.gone {
		if cl == old {
			break
		}
	}
	if err := w.h.broker.Publish(w.topic, []byte("marker"), false, 1); err != nil {
		w.t.Fatal(err)
	}
	w.until("marker")
	for _, m := range w.h.broker.Topics.Messages(w.topic) {
		if !bytes.Contains(m.Payload, []byte(`"online"`)) {
			w.t.Fatalf("booth1's retained state is now %s", m.Payload)
		}
	}
	rec := httptest.NewRecorder()
	w.h.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `kordon_hub_box_online{box="booth1"} 1`) {
		w.t.Fatal("box health shows booth1 offline")
	}
}

// current is the broker's client of booth1's id now.
func (w *willWatch) current() *mqtt.Client {
	cl, ok := w.h.broker.Clients.Get(boxID("booth1"))
	if !ok {
		w.t.Fatal("booth1 is not connected")
	}
	return cl
}

// A box that disconnects normally (DISCONNECT) takes its Will with it.
func TestWillDroppedOnNormalDisconnect(t *testing.T) {
	h := hostileHub(t, nil)
	w := newWillWatch(t, h)
	for range 5 {
		c := w.online()
		old := w.current()
		c.Disconnect(250)
		w.noWillSent(old)
	}
}

// A box that reconnects over a half-dead link takes over its session: the
// old connection's Will must not mark it offline, nor reach anyone.
func TestWillDroppedWhenTheBoxReconnects(t *testing.T) {
	h := hostileHub(t, nil)
	w := newWillWatch(t, h)
	c := w.online()
	for range 20 {
		old := w.current()
		next := w.online() // same client id: mochi takes over the session
		w.noWillSent(old)
		c.Disconnect(0)
		c = next
	}
	c.Disconnect(250)
}
