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

// OnConnectAuthenticate checks the box's password. bcrypt compares in
// constant time; an unknown user costs the same as a wrong password.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user := string(pk.Connect.Username)
	hash, ok := h.boxes[user]
	if !ok {
		hash, ok = h.observers[user]
	}
	if !ok {
		hash = dummyHash
	}
	err := bcrypt.CompareHashAndPassword(hash, pk.Connect.Password)
	if !ok || err != nil {
		h.refused.Add(1)
		return false
	}
	return true
}

// dummyHash keeps the timing of unknown and known users alike.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no such box"), bcrypt.DefaultCost)

// OnACLCheck lets a box write under kordon/v1/<crossing>/<box>/ except its
// commands topic (only the hub commands a box), and read only its commands.
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
	var ok bool
	if write {
		ok = strings.HasPrefix(topic, contract.BoxRoot(h.crossing, box)) && topic != commands &&
			!strings.ContainsAny(topic, "+#")
	} else {
		ok = topic == commands
	}
	if !ok {
		h.denied.Add(1)
	}
	return ok
}
