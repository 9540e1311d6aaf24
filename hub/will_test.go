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
