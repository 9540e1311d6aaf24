package hub

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"

	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/schema"
)

// authHook admits only known boxes and observers (no anonymous clients),
// binds each to its topics through one decision (allowed) for everything a
// client can name — PUBLISH, SUBSCRIBE, its Will, retained messages — and
// bounds what each identity can make the broker hold or do (Guard). The
// hub's inline client does not pass through it.
type authHook struct {
	mqtt.HookBase
	crossing  string
	boxes     map[string][]byte // box id -> bcrypt hash
	observers map[string][]byte // read-only users -> bcrypt hash
	// unknownHash is checked for a user neither list knows.
	unknownHash []byte
	guard       Guard
	validator   *schema.Validator
	redact      *redactor
	broker      *mqtt.Server // set once the broker exists

	counts    *refusals // the broker's refusals
	web       *refusals // the dashboard's refused log-ins (web.go)
	throttle  *authThrottle
	rates     *rates
	bytes     *rates // bytes per second
	fair      *fairShare
	refused   atomic.Int64 // connections refused, any reason
	denied    atomic.Int64 // topics refused by the ACL
	listeners []*guardedListener
	// names maps each configured identity to itself: the proven identity
	// of a client as a string without allocating one on every packet.
	names map[string]string

	mu       sync.Mutex
	pending  map[*mqtt.Client]pendingSession // admitted, not yet in the broker's client list
	retained map[string]map[string]bool      // box -> its retained topics
}

type pendingSession struct {
	identity string
	at       time.Time
}

func newAuthHook(crossing string, boxes, observers map[string][]byte, g Guard, v *schema.Validator, r *redactor) *authHook {
	g = g.withDefaults()
	return &authHook{crossing: crossing, boxes: boxes, observers: observers, unknownHash: unknownUserHash(boxes, observers), guard: g, validator: v, redact: r,
		counts: newRefusals(mRefusals), web: newRefusals(mLoginRefusals), throttle: newAuthThrottle(g.AuthChecks),
		rates: newRates(rate.Limit(g.Rate), g.Burst, boxes, observers),
		// A second's worth of bytes; a larger message spends it all.
		bytes:   newRates(rate.Limit(g.ByteRate), g.ByteRate, boxes, observers),
		names:   identityNames(boxes, observers),
		fair:    newFairShare(g.FairShare),
		pending: map[*mqtt.Client]pendingSession{}, retained: map[string]map[string]bool{}}
}

func identityNames(sets ...map[string][]byte) map[string]string {
	m := map[string]string{}
	for _, set := range sets {
		for id := range set {
			m[id] = id
		}
	}
	return m
}

// identity is the identity cl proved at CONNECT (OnConnectAuthenticate
// set it as its username).
func (h *authHook) identity(cl *mqtt.Client) string {
	if id, ok := h.names[string(cl.Properties.Username)]; ok {
		return id
	}
	return string(cl.Properties.Username)
}

func (h *authHook) ID() string { return "kordon-auth" }

// Provides is asked for every hook and event of every packet.
func (h *authHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnSessionEstablished,
		mqtt.OnPacketRead, mqtt.OnPublish, mqtt.OnWill, mqtt.OnPacketEncode, mqtt.OnPacketSent, mqtt.OnDisconnect:
		return true
	}
	return false
}

// access is what a client asks to do with a topic.
type access int

const (
	publish   access = iota
	subscribe        // also checked for each message delivered
	will
	retain
)

// allowed is the one ACL decision. A box writes only the contract's
// topics under its own root, except its commands (only the hub commands a
// box); reads only its commands; may leave a Will only on its own state
// topic; and retains only its state and device availability. An observer
// reads the crossing's topics and writes nothing, not even a Will.
func (h *authHook) allowed(identity, topic string, a access) bool {
	if strings.ContainsAny(topic, "+#") && a != subscribe {
		return false
	}
	if _, ok := h.observers[identity]; ok {
		// A filter may be as wide as "#": every message it matches is
		// checked again, as a plain topic, when it is delivered.
		return a == subscribe && (strings.ContainsAny(topic, "+#") || strings.HasPrefix(topic, contract.Prefix+"/"+h.crossing+"/"))
	}
	if _, ok := h.boxes[identity]; !ok {
		return false
	}
	t, ok := contract.Parse(topic)
	own := ok && t.Crossing == h.crossing && t.Box == identity
	switch a {
	case subscribe:
		return topic == contract.Commands(h.crossing, identity) || topic == contract.EvidenceRequests(h.crossing, identity)
	case will:
		return own && t.Leaf == "state" && t.Device == ""
	case retain:
		return own && ((t.Leaf == "state" && t.Device == "") || (t.Leaf == "availability" && t.Device != ""))
	default:
		switch {
		case !own:
			return false
		case t.Device == "":
			return t.Leaf == "state" || t.Leaf == "replies" || t.Leaf == "evidence"
		default:
			return t.Leaf == "readings" || t.Leaf == "availability"
		}
	}
}

// OnConnectAuthenticate admits a client: its identity, its client id, its
// Will and its share of sessions must all be right.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	identity, ok := h.authenticate(cl, pk)
	reason := "credentials"
	switch {
	case !ok:
	case !h.clientIDOK(identity, cl.ID):
		reason = "client_id"
	case !h.willOK(identity, pk.Connect):
		reason = "will"
	case !h.admitSession(identity, cl):
		reason = "sessions"
	default:
		cl.Properties.Username = []byte(identity) // the ACL works on the proven identity
		return true
	}
	if ok { // authenticate counts its own refusals
		h.counts.add(reason)
	}
	h.refused.Add(1)
	return false
}

// authenticate proves who the client is. On the mutual-TLS listener the
// identity is the verified certificate's Common Name (a username, if sent,
// must match it); elsewhere it is the username, checked against its bcrypt
// hash — within the throttle, which counts its own refusals.
func (h *authHook) authenticate(cl *mqtt.Client, pk packets.Packet) (string, bool) {
	if cl.Net.Listener == tlsListenerID {
		cn := peerCN(cl.Net.Conn)
		_, known := h.boxes[cn]
		user := string(pk.Connect.Username)
		if cn == "" || !known || (user != "" && user != cn) {
			h.counts.add("credentials")
			return "", false
		}
		return cn, true
	}
	user, pw := string(pk.Connect.Username), pk.Connect.Password
	hash, ok := h.boxes[user]
	if !ok {
		hash, ok = h.observers[user]
	}
	if ok && len(hash) > 0 && h.throttle.known(user, pw) {
		return user, true
	}
	addr := hostOf(cl.Net.Remote)
	if h.throttle.backedOff(addr) {
		h.counts.add("backoff")
		return "", false
	}
	if !h.throttle.acquire(h.throttle.slotWait()) {
		h.counts.add("auth_busy")
		return "", false
	}
	if h.throttle.backedOff(addr) { // failures while this one waited for its slot
		h.throttle.release()
		h.counts.add("backoff")
		return "", false
	}
	if !ok || len(hash) == 0 {
		ok, hash = false, h.unknownHash // an unknown user costs what a wrong password costs
	}
	h.counts.add("bcrypt_checks")
	began := time.Now()
	err := bcrypt.CompareHashAndPassword(hash, pw)
	if !ok || err != nil {
		// A failed check keeps its slot failedCheckPause times as long
		// again: guesses, from however many addresses, take at most a
		// share of one core, and the rest is left to the boxes.
		took := time.Since(began)
		h.throttle.failedTime.Add(int64(took))
		for l := h.throttle.failedLongest.Load(); int64(took) > l && !h.throttle.failedLongest.CompareAndSwap(l, int64(took)); l = h.throttle.failedLongest.Load() {
		}
		h.throttle.releaseAfter(failedCheckPause * took)
		h.throttle.failed(addr)
		h.counts.add("credentials")
		return "", false
	}
	h.throttle.release()
	h.throttle.succeeded(addr)
	h.throttle.remember(user, pw)
	return user, true
}

// clientIDOK binds client ids to identities: a box connects only as
// kordon-<crossing>-<box>; those ids are reserved to their boxes; and an id
// held (connected or as a kept session) by one identity cannot be taken by
// another, which would take over its session.
func (h *authHook) clientIDOK(identity, id string) bool {
	prefix := "kordon-" + h.crossing + "-"
	if _, box := h.boxes[identity]; box {
		return id == prefix+identity
	}
	if strings.HasPrefix(id, prefix) {
		return false
	}
	if h.broker != nil {
		if old, ok := h.broker.Clients.Get(id); ok && string(old.Properties.Username) != identity {
			return false
		}
	}
	return true
}

// willOK applies the ACL to the Will a client leaves at CONNECT: mochi
// publishes a Will without an ACL check, so it is judged here, once, where
// the client can be told no. A box's Will must be its own offline state.
func (h *authHook) willOK(identity string, c packets.ConnectParams) bool {
	if !c.WillFlag {
		return true
	}
	if !h.allowed(identity, c.WillTopic, will) || len(c.WillPayload) > h.guard.MaxRetained {
		return false
	}
	var st contract.State
	if h.validator.Validate(c.WillPayload) != nil || json.Unmarshal(c.WillPayload, &st) != nil {
		return false
	}
	return st.Schema == contract.StateV1 && st.Box == identity && st.Crossing == h.crossing && st.State == "offline"
}

// OnWill re-applies the decision when the Will is sent (a belt to the
// CONNECT check's braces): a Will that is not allowed goes nowhere.
func (h *authHook) OnWill(cl *mqtt.Client, w mqtt.Will) (mqtt.Will, error) {
	if cl.Net.Inline || h.allowed(string(cl.Properties.Username), w.TopicName, will) {
		return w, nil
	}
	h.counts.add("will")
	w.TopicName = contract.Prefix + "/" + h.crossing + "/hub/refused-will"
	w.Retain = false
	w.Payload = nil
	return w, nil
}

// admitSession caps the sessions of one identity: a box one (its own
// client id; a reconnect takes over its old session), an observer
// ObserverSessions.
func (h *authHook) admitSession(identity string, cl *mqtt.Client) bool {
	limit := 1
	if _, ok := h.observers[identity]; ok {
		limit = h.guard.ObserverSessions
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	now := time.Now()
	for c, p := range h.pending {
		switch {
		case now.Sub(p.at) > time.Minute: // its CONNACK never went out
			delete(h.pending, c)
		case p.identity == identity && c.ID != cl.ID:
			n++
		}
	}
	if h.broker != nil {
		for _, c := range h.broker.Clients.GetAll() {
			if string(c.Properties.Username) == identity && c.ID != cl.ID && !c.Closed() {
				n++
			}
		}
	}
	if n >= limit {
		return false
	}
	h.pending[cl] = pendingSession{identity: identity, at: now}
	return true
}

// attaching says whether another connection under cl's client id has been
// admitted and is on its way into the broker's client list.
func (h *authHook) attaching(cl *mqtt.Client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.pending {
		if c != cl && c.ID == cl.ID && !c.Closed() {
			return true
		}
	}
	return false
}

// OnSessionEstablished: the client is in the broker's list now (and no
// longer pending on its listener).
func (h *authHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	h.mu.Lock()
	delete(h.pending, cl)
	h.mu.Unlock()
	for _, l := range h.listeners {
		l.established(cl.Net.Conn)
	}
}

// OnACLCheck applies the decision to PUBLISH (write), to SUBSCRIBE filters
// and to each message the broker delivers (read).
func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	a := subscribe
	if write {
		a = publish
	}
	if h.allowed(h.identity(cl), topic, a) {
		return true
	}
	h.denied.Add(1)
	h.counts.add("acl")
	return false
}

// OnPacketRead spends the identity's rate and keeps it to its fair share
// of the ingest (fair.go): a client over either waits (its connection is
// read more slowly), so one flooding box cannot take the broker's time
// from the others.
func (h *authHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || pk.FixedHeader.Type != packets.Publish {
		return pk, nil
	}
	identity := h.identity(cl)
	now := time.Now()
	if !h.spend(h.rates.of(identity), now, 1, "rate") {
		return pk, packets.ErrMessageRateTooHigh
	}
	if n := len(pk.Payload) + len(pk.TopicName); !h.spend(h.bytes.of(identity), now, min(n, h.bytes.burst), "byte_rate") {
		return pk, packets.ErrMessageRateTooHigh
	}
	if pk.FixedHeader.Qos > 0 && h.fair.admit(cl, identity, pk.PacketID) {
		h.counts.add("fair_share")
	}
	return pk, nil
}

// spend takes n tokens from l at now, waiting up to 30 s for them; a
// wait is counted under reason.
func (h *authHook) spend(l *rate.Limiter, now time.Time, n int, reason string) bool {
	if l.AllowN(now, n) {
		return true
	}
	h.counts.add(reason)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return l.WaitN(ctx, n) == nil
}

// OnPacketSent ends a reading's time in the ingest: its PUBACK (PUBREC at
// QoS 2) went out.
func (h *authHook) OnPacketSent(cl *mqtt.Client, pk packets.Packet, _ []byte) {
	if t := pk.FixedHeader.Type; !cl.Net.Inline && (t == packets.Puback || t == packets.Pubrec) {
		h.fair.acked(cl, pk.PacketID)
	}
}

func (h *authHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) { h.fair.gone(cl) }

// OnPublish runs before ingest: a box's state and availability must name
// the box (and device) of their topic, and only the contract's retained
// topics may be retained, bounded in size and in number per box.
func (h *authHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	box := h.identity(cl)
	t, _ := contract.Parse(pk.TopicName)
	if (t.Leaf == "state" || t.Leaf == "availability") && !h.namesItsTopic(t, pk.Payload) {
		h.counts.add("identity")
		return pk, packets.CodeSuccessIgnore
	}
	if t.Leaf == "state" || t.Leaf == "availability" {
		if !h.heldOK(box, pk) {
			h.counts.add("retain")
			return pk, packets.CodeSuccessIgnore
		}
	} else if pk.FixedHeader.Retain {
		h.counts.add("retain")
		return pk, packets.CodeSuccessIgnore
	}
	return pk, nil
}

func (h *authHook) namesItsTopic(t contract.Parsed, payload []byte) bool {
	var m struct {
		Box, Device string
		Crossing    *string
	}
	if json.Unmarshal(payload, &m) != nil || m.Box != t.Box || m.Device != t.Device {
		return false
	}
	return m.Crossing == nil || *m.Crossing == t.Crossing
}

// heldOK bounds the state and availability messages of one box, retained
// or not (the broker keeps the retained ones, the hub the latest of each
// for its screens): each at most MaxRetained bytes, RetainedPerBox topics.
func (h *authHook) heldOK(box string, pk packets.Packet) bool {
	if !h.allowed(box, pk.TopicName, retain) || len(pk.Payload) > h.guard.MaxRetained {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	held := h.retained[box]
	if held == nil {
		held = map[string]bool{}
		h.retained[box] = held
	}
	if !held[pk.TopicName] && len(held) >= h.guard.RetainedPerBox {
		return false
	}
	held[pk.TopicName] = true
	return true
}

// OnPacketEncode redacts readings for observers just before they are
// written: whatever the sender listed as personal, the kind's schema
// decides (redact.go).
func (h *authHook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type != packets.Publish || cl.Net.Inline {
		return pk
	}
	if _, ok := h.observers[string(cl.Properties.Username)]; !ok {
		return pk
	}
	if t, ok := contract.Parse(pk.TopicName); ok && t.Leaf == "readings" {
		pk.Payload = h.redact.envelope(pk.Payload)
	}
	return pk
}

// unknownUserHash is what an unknown user's password is checked against,
// at the cost of the costliest configured hash: unknown and known users
// then take the same time (a dummy at another cost would tell them apart,
// and one costlier than every real hash would make each guess dearer than
// a box's log-in).
func unknownUserHash(sets ...map[string][]byte) []byte {
	cost := 0
	for _, set := range sets {
		for _, h := range set {
			if c, err := bcrypt.Cost(h); err == nil && c > cost {
				cost = c
			}
		}
	}
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	h, _ := bcrypt.GenerateFromPassword([]byte("no such box"), cost)
	return h
}

// defaultInflight is limits.max_inflight's default: edged's window. A box
// drains a backlog one window per commit, and the ingest queue, not this,
// bounds what the hub holds for all boxes at once.
const defaultInflight = 256

// applyLimits bounds what one client can make the broker hold: payload
// size, unacknowledged messages, session lifetime and client count.
func applyLimits(c *mqtt.Capabilities, l LimitConfig) {
	maxPayload := l.MaxPayload
	if maxPayload == 0 {
		maxPayload = 256 << 10
	}
	c.MaximumPacketSize = uint32(maxPayload + 1024)
	c.ReceiveMaximum = defaultInflight
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
