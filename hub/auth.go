package hub

import (
	"bytes"
	"strings"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"

	"github.com/kordon/kordon/internal/contract"
)

// authHook admits only known boxes (no anonymous clients) and binds each
// box to its own topics. The hub's inline client does not pass through it.
type authHook struct {
	mqtt.HookBase
	crossing  string
	boxes     map[string][]byte // box id -> bcrypt hash
	observers map[string][]byte // read-only users -> bcrypt hash
	refused   atomic.Int64      // connections refused
	denied    atomic.Int64      // publishes/subscribes outside a box's topics
}

func (h *authHook) ID() string { return "kordon-auth" }

func (h *authHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck}, []byte{b})
}

// OnConnectAuthenticate admits a client. On the mutual-TLS listener the
// identity is the verified certificate's Common Name (a username, if sent,
// must match it); elsewhere it is the username, checked against its bcrypt
// hash, which compares in constant time (an unknown user costs the same as
// a wrong password). Either way a box's client id belongs to that box only,
// so no one can take over another box's session.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	if cl.Net.Listener == tlsListenerID {
		cn := peerCN(cl.Net.Conn)
		_, known := h.boxes[cn]
		user := string(pk.Connect.Username)
		if cn == "" || !known || (user != "" && user != cn) || !h.clientIDOK(cn, cl.ID) {
			h.refused.Add(1)
			return false
		}
		cl.Properties.Username = []byte(cn) // the ACL works on the certificate's identity
		return true
	}
	user := string(pk.Connect.Username)
	hash, ok := h.boxes[user]
	if !ok {
		hash, ok = h.observers[user]
	}
	if !ok || len(hash) == 0 {
		ok, hash = false, dummyHash
	}
	err := bcrypt.CompareHashAndPassword(hash, pk.Connect.Password)
	if !ok || err != nil || !h.clientIDOK(user, cl.ID) {
		h.refused.Add(1)
		return false
	}
	return true
}

// clientIDOK: the client id kordon-<crossing>-<box> is reserved to that box.
func (h *authHook) clientIDOK(identity, id string) bool {
	prefix := "kordon-" + h.crossing + "-"
	return !strings.HasPrefix(id, prefix) || id == prefix+identity
}

// dummyHash keeps the timing of unknown and known users alike.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no such box"), bcrypt.DefaultCost)

// OnACLCheck lets a box write under kordon/v1/<crossing>/<box>/ except its
// commands and evidence-requests topics (only the hub commands or asks a
// box), and read only those two.
func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	box := string(cl.Properties.Username)
	if _, ok := h.observers[box]; ok {
		ok = !write && strings.HasPrefix(topic, contract.Prefix+"/"+h.crossing+"/")
		if !ok {
			h.denied.Add(1)
		}
		return ok
	}
	if _, ok := h.boxes[box]; !ok {
		h.denied.Add(1)
		return false
	}
	commands := contract.Commands(h.crossing, box)
	requests := contract.EvidenceRequests(h.crossing, box) // like commands: only the hub writes it
	var ok bool
	if write {
		ok = strings.HasPrefix(topic, contract.BoxRoot(h.crossing, box)) && topic != commands &&
			topic != requests && !strings.ContainsAny(topic, "+#")
	} else {
		ok = topic == commands || topic == requests
	}
	if !ok {
		h.denied.Add(1)
	}
	return ok
}

// applyLimits bounds what one client can make the broker hold: payload
// size, unacknowledged messages, session lifetime and client count.
func applyLimits(c *mqtt.Capabilities, l LimitConfig) {
	maxPayload := l.MaxPayload
	if maxPayload == 0 {
		maxPayload = 256 << 10
	}
	c.MaximumPacketSize = uint32(maxPayload + 1024)
	c.ReceiveMaximum = 64
	if l.MaxInflight > 0 {
		c.ReceiveMaximum = l.MaxInflight
	}
	c.MaximumInflight = max(c.ReceiveMaximum, 1024)
	c.MaximumSessionExpiryInterval = 3600
	if l.SessionExpiry > 0 {
		c.MaximumSessionExpiryInterval = l.SessionExpiry
	}
	c.MaximumClients = 256
	if l.MaxClients > 0 {
		c.MaximumClients = l.MaxClients
	}
	c.MaximumClientWritesPending = 1024
	c.MaximumMessageExpiryInterval = 24 * 3600
}
