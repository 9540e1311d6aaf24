package hub

import (
	"bytes"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/schema"
)

// ingestHook takes every message a box publishes, inside the broker's
// publish path (before the PUBACK).
type ingestHook struct {
	mqtt.HookBase
	hub        *Hub
	validator  *schema.Validator
	rules      *ruleSet // hot-reloaded (rules.go)
	maxPayload int

	readings, duplicates, refused, alerts atomic.Int64

	mu     sync.Mutex
	states map[string][]byte // latest box state / availability by topic

	alertq   chan contract.Alert
	stopOnce sync.Once
	quit     chan struct{}
}

func (h *ingestHook) ID() string { return "kordon-ingest" }

func (h *ingestHook) Provides(b byte) bool { return b == mqtt.OnPublish }

func (h *ingestHook) Init(any) error {
	h.alertq = make(chan contract.Alert, 1024)
	h.quit = make(chan struct{})
	return nil
}

// OnPublish validates and stores what a box sends. A malformed or oversized
// message is acknowledged but dropped and counted (so one bad message cannot
// jam a box's outbox); a storage failure rejects the packet, so the box
// keeps the reading and sends it again.
func (h *ingestHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil // the hub's own alerts and commands
	}
	t, ok := contract.Parse(pk.TopicName)
	box := string(cl.Properties.Username)
	if !ok || t.Box != box {
		return h.refuse(box, pk.TopicName, "unknown topic")
	}
	if len(pk.Payload) > h.maxPayload {
		return h.refuse(box, pk.TopicName, "oversized payload")
	}
	if err := h.validator.Validate(pk.Payload); err != nil {
		h.hub.log.Warn("payload refused: schema", "box", box, "topic", pk.TopicName, "err", redactErr(err))
		return h.refuse(box, pk.TopicName, "schema")
	}
	switch {
	case t.Leaf == "readings":
		return pk, h.takeReading(box, t, pk.Payload)
	case t.Leaf == "replies":
		h.hub.gaps.reply(box, pk.Payload) // answers to resend requests (gaps.go)
		h.hub.takeReply(box, pk.Payload)  // results of commands (commands.go)
	case t.Leaf == "availability" || t.Leaf == "state":
		h.mu.Lock()
		h.states[pk.TopicName] = append([]byte(nil), pk.Payload...)
		h.mu.Unlock()
		h.hub.live.send(event{Name: t.Leaf, Data: pk.Payload})
	}
	return pk, nil
}

func (h *ingestHook) refuse(box, topic, why string) (packets.Packet, error) {
	h.refused.Add(1)
	countRefused(why)
	h.hub.log.Warn("payload refused", "box", box, "topic", topic, "why", why)
	return packets.Packet{}, packets.CodeSuccessIgnore
}

// takeReading stores a reading once, runs the rules on a new one, and
// stores the alerts before the box gets its PUBACK.
func (h *ingestHook) takeReading(box string, t contract.Parsed, body []byte) error {
	var r reading.Reading
	if err := json.Unmarshal(body, &r); err != nil {
		_, err := h.refuse(box, "", "envelope")
		return err
	}
	if r.Box != box || r.Device != t.Device || r.Crossing != h.hub.cfg.Crossing {
		_, err := h.refuse(box, "", "envelope does not match topic")
		return err
	}
	now := time.Now()
	added, err := h.hub.store.addReading(&r, body, now)
	if err != nil {
		h.hub.log.Error("store reading; box will resend", "box", box, "device", r.Device, "seq", r.Seq, "err", err)
		return packets.ErrRejectPacket
	}
	h.hub.gaps.seen(box, r.Device, r.Seq) // duplicates too: a resend fills holes with them
	if !added {
		h.duplicates.Add(1)
		return nil
	}
	h.readings.Add(1)
	h.hub.live.send(event{Name: "reading", Data: reading.Redacted(body)})
	payload := r.Payload.(reading.Received).JSON
	for _, a := range append(evaluate(h.rules, h.hub.cfg.Crossing, &r, payload, now), h.hub.watchlistAlerts(&r, payload, now)...) {
		if err := h.hub.store.addAlert(a); err != nil {
			h.hub.log.Error("store alert; box will resend", "rule", a.Rule, "err", err)
			return packets.ErrRejectPacket
		}
		h.alerts.Add(1)
		h.hub.log.Info("alert", "id", a.ID, "rule", a.Rule, "severity", a.Severity, "box", a.Box, "device", a.Device)
		select {
		case h.alertq <- a:
		default:
			h.hub.log.Warn("alert publish queue full; alert is stored", "id", a.ID)
		}
	}
	return nil
}

// publishAlerts sends stored alerts on the alert topic and to the live page.
func (h *ingestHook) publishAlerts() {
	for {
		select {
		case <-h.quit:
			return
		case a := <-h.alertq:
			js, _ := json.Marshal(a)
			if err := h.hub.broker.Publish(contract.Alerts(h.hub.cfg.Crossing), js, false, 1); err != nil {
				h.hub.log.Warn("alert publish", "id", a.ID, "err", err)
			}
			h.hub.live.send(event{Name: "alert", Data: js})
		}
	}
}

func (h *ingestHook) stop() { h.stopOnce.Do(func() { close(h.quit) }) }

// snapshot returns the latest state and availability messages.
func (h *ingestHook) snapshot() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([][]byte, 0, len(h.states))
	for _, v := range h.states {
		out = append(out, v)
	}
	return out
}

// redactErr keeps a validation error short; schema errors name locations,
// and can quote values, so only the first line is logged.
func redactErr(err error) string {
	s := err.Error()
	if i := bytes.IndexByte([]byte(s), '\n'); i > 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
