package hub

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/kordon/kordon/internal/contract"
)

// takeoverInterleave holds the two connections of one client id at the
// points where mochi's session takeover races, so that the test forces
// the losing order instead of hoping for it under load:
//
//	new connection (inheritClientSession)   old connection (its end)
//	  stops the old one
//	  unsubscribes it: held until ------->   OnDisconnect; not taken over yet,
//	                                          so it will delete its id;
//	                                          clears its inflights: held until
//	  marks the old one taken over,           |
//	  lists itself, CONNACK ----------------> deletes the id: the new one
//
// A hub that lets the old connection finish before the new one is listed
// never reaches the holds' waits (nothing new is past OnSessionEstablish
// when the old connection ends).
type takeoverInterleave struct {
	mqtt.HookBase
	old       atomic.Pointer[mqtt.Client]
	arrived   atomic.Bool   // a new connection under old's id passed OnSessionEstablish
	oldPast   chan struct{} // the old connection is clearing its inflights
	pastOnce  sync.Once
	listed    chan struct{} // the new connection's session is established
	listedOne sync.Once
}

func newTakeoverInterleave() *takeoverInterleave {
	return &takeoverInterleave{oldPast: make(chan struct{}), listed: make(chan struct{})}
}

func (h *takeoverInterleave) ID() string { return "test-takeover-interleave" }

func (h *takeoverInterleave) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnSessionEstablish, mqtt.OnSessionEstablished, mqtt.OnUnsubscribed, mqtt.OnQosDropped}, []byte{b})
}

func (h *takeoverInterleave) replaces(cl *mqtt.Client) bool {
	old := h.old.Load()
	return old != nil && cl != old && cl.ID == old.ID
}

func (h *takeoverInterleave) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	if h.replaces(cl) {
		h.arrived.Store(true)
	}
}

func (h *takeoverInterleave) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	if h.replaces(cl) {
		h.listedOne.Do(func() { close(h.listed) })
	}
}

// holdWait bounds each hold: the test must not hang on a hub that never
// reaches it.
const holdWait = 5 * time.Second

func (h *takeoverInterleave) OnUnsubscribed(cl *mqtt.Client, _ packets.Packet) {
	if cl == h.old.Load() && h.arrived.Load() {
		select {
		case <-h.oldPast:
		case <-time.After(holdWait):
		}
	}
}

func (h *takeoverInterleave) OnQosDropped(cl *mqtt.Client, _ packets.Packet) {
	if cl != h.old.Load() {
		return
	}
	h.pastOnce.Do(func() { close(h.oldPast) })
	if h.arrived.Load() {
		select {
		case <-h.listed:
		case <-time.After(holdWait):
		}
	}
}

// rawBox is a box connection written packet by packet, so that it can
// leave a QoS 1 message unacknowledged (paho acknowledges at once).
type rawBox struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialRawBox(t *testing.T, addr, id, user, pw string) *rawBox {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	b := &rawBox{t: t, conn: conn, r: bufio.NewReader(conn)}
	b.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: id,
			UsernameFlag: true, Username: []byte(user), PasswordFlag: true, Password: []byte(pw)}})
	if typ, body := b.read(); typ != packets.Connack || len(body) != 2 || body[1] != 0 {
		t.Fatalf("CONNACK: type %d % x", typ, body)
	}
	return b
}

func (b *rawBox) send(pk packets.Packet) {
	b.t.Helper()
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	}
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := b.conn.Write(buf.Bytes()); err != nil {
		b.t.Fatal(err)
	}
}

// read returns the next packet's type and its variable header and payload.
func (b *rawBox) read() (byte, []byte) {
	b.t.Helper()
	first, err := b.r.ReadByte()
	if err != nil {
		b.t.Fatal(err)
	}
	n, shift := 0, 0
	for {
		c, err := b.r.ReadByte()
		if err != nil {
			b.t.Fatal(err)
		}
		n |= int(c&0x7f) << shift
		if c&0x80 == 0 {
			break
		}
		shift += 7
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(b.r, body); err != nil {
		b.t.Fatal(err)
	}
	return first >> 4, body
}

// A box that reconnects while its old connection is still open takes the
// session over; when the old connection's end runs late (a loaded hub),
// it must not remove the new connection from the broker's clients: an
// unlisted connection stays open but gets nothing published to it (its
// commands), and cannot be taken over in turn.
func TestTakeoverKeepsTheNewConnectionListed(t *testing.T) {
	h := hubWithLog(t, newLogBuffer())
	hold := newTakeoverInterleave()
	if err := h.broker.AddHook(hold, nil); err != nil {
		t.Fatal(err)
	}
	const id = "kordon-kz-test-booth-1"
	commands := contract.Commands("kz-test", "booth-1")

	old := dialRawBox(t, h.MQTTAddr(), id, "booth-1", "pw")
	old.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: commands, Qos: 1}}})
	if typ, body := old.read(); typ != packets.Suback || len(body) != 3 || body[2] != 1 {
		t.Fatalf("SUBACK: type %d % x", typ, body)
	}
	oldCl, ok := h.broker.Clients.Get(id)
	if !ok {
		t.Fatal("the first connection is not listed")
	}
	hold.old.Store(oldCl)
	// A command the old connection never acknowledges: an inflight its
	// end has to clear.
	if err := h.broker.Publish(commands, []byte("unacknowledged"), false, 1); err != nil {
		t.Fatal(err)
	}
	if typ, _ := old.read(); typ != packets.Publish {
		t.Fatalf("the first connection got packet type %d, want its command", typ)
	}

	got := make(chan []byte, 4)
	next := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + h.MQTTAddr()).SetClientID(id).
		SetUsername("booth-1").SetPassword("pw").SetAutoReconnect(false).SetCleanSession(true).
		SetProtocolVersion(4).SetConnectTimeout(30 * time.Second))
	if tok := next.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("reconnect: %v", tok.Error())
	}
	defer next.Disconnect(0)
	// mochi counts a connection out as the very last step of its end,
	// after removing its client id: one connection left is the new one.
	waitFor(t, "the old connection's end", func() bool { return atomic.LoadInt64(&h.broker.Info.ClientsConnected) == 1 })

	if tok := next.Subscribe(commands, 1, func(_ paho.Client, m paho.Message) { got <- m.Payload() }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	cur, ok := h.broker.Clients.Get(id)
	if !ok || cur == oldCl || cur.Closed() {
		t.Fatalf("the reconnected box is not among the broker's clients (listed %v, the old one %v)", ok, cur == oldCl)
	}
	if err := h.broker.Publish(commands, []byte("after the takeover"), false, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if string(m) != "after the takeover" {
			t.Fatalf("the reconnected box got %q", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the reconnected box got no command")
	}
}
