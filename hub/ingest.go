package hub

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/kordon/kordon/hub/groupcommit"
	"github.com/kordon/kordon/internal/contract"
)

// ingestHook takes every message a box publishes, inside the broker's
// publish path. mochi (v2.7.9, server.go processPublish) calls OnPublish
// on the box's own connection goroutine and writes the PUBACK only after
// it returns, so waiting here for the reading's transaction to commit is
// what makes a PUBACK mean "on the hub's disk".
type ingestHook struct {
	mqtt.HookBase
	parse  *parser
	rules  *ruleSet
	watch  func(p *parsed, now time.Time) []contract.Alert
	commit *groupcommit.Committer[*job]
	// replies takes a box's answers to commands and resend requests.
	replies func(box string, body []byte)
	states  *boxStates
	count   *counters
	log     *slog.Logger
}

func (h *ingestHook) ID() string { return "kordon-ingest" }

func (h *ingestHook) Provides(b byte) bool { return b == mqtt.OnPublish }

// OnPublish validates and stores what a box sends. A message the hub
// refuses is acknowledged, counted, and recorded as refused when it can be
// named (so one bad message cannot jam a box's outbox, and its number is
// not asked for again); a storage failure sends no PUBACK, so the box
// keeps the reading and sends it again.
func (h *ingestHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil // the hub's own alerts and commands
	}
	t, ok := contract.Parse(pk.TopicName)
	box := string(cl.Properties.Username)
	if !ok || t.Box != box {
		return h.refuse(box, pk, &refusal{reason: "unknown topic"})
	}
	if t.Leaf == "readings" {
		return h.takeReading(box, t.Device, pk)
	}
	if len(pk.Payload) > h.parse.maxPayload {
		return h.refuse(box, pk, &refusal{reason: "oversized payload"})
	}
	if err := h.parse.validator.Validate(pk.Payload); err != nil {
		return h.refuse(box, pk, &refusal{reason: "schema", err: err})
	}
	switch t.Leaf {
	case "replies":
		h.replies(box, pk.Payload)
	case "availability", "state":
		if inc := h.states.put(pk.TopicName, t.Leaf, pk.Payload); inc != "" {
			// A new life announced in the box state: record it with the
			// readings' incarnations (box health, /metrics).
			if err := h.commit.Do(&job{kind: jobIncarnation, ref: contract.ReadingRef{Box: box, Incarnation: inc}, received: time.Now()}); err != nil {
				h.log.Warn("incarnation not recorded", "box", box, "err", err)
			}
		}
	}
	return pk, nil
}

func (h *ingestHook) takeReading(box, device string, pk packets.Packet) (packets.Packet, error) {
	now := time.Now()
	p, rf := h.parse.reading(box, device, pk.Payload)
	if rf != nil {
		return h.refuse(box, pk, rf)
	}
	m := h.rules.match(ruleVars(&p.r, p.payload))
	j := &job{kind: jobReading, ref: p.ref, received: now, p: p, kindOf: p.r.Kind(), origin: p.r.Origin,
		quality: string(p.r.Quality.Status), body: p.body, match: m, watch: h.watch(p, now)}
	if err := h.commit.Do(j); err != nil {
		h.count.storeFailures.Add(1)
		h.log.Error("store reading; box will resend", "box", box, "device", device, "seq", p.ref.Seq, "err", err)
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

// refuse acknowledges and drops a message; a reading it can name is
// recorded as refused first (a failure to record it sends no PUBACK).
func (h *ingestHook) refuse(box string, pk packets.Packet, rf *refusal) (packets.Packet, error) {
	h.count.refusedPayload(rf.reason)
	args := []any{"box", box, "topic", pk.TopicName, "why", rf.reason, "size", len(pk.Payload)}
	if rf.err != nil {
		args = append(args, "err", redactErr(rf.err))
	}
	h.log.Warn("payload refused", args...)
	if rf.named {
		j := &job{kind: jobRefusal, ref: rf.ref, received: time.Now(), reason: rf.reason, size: len(pk.Payload)}
		if err := h.commit.Do(j); err != nil {
			h.count.storeFailures.Add(1)
			h.log.Error("record refused reading; box will resend", "box", box, "err", err)
			return pk, packets.ErrRejectPacket
		}
	}
	return packets.Packet{}, packets.CodeSuccessIgnore
}

// snapshot returns the latest state and availability messages.
func (h *ingestHook) snapshot() [][]byte { return h.states.snapshot() }

// boxStates keeps the latest retained state and availability of each box.
type boxStates struct {
	mu   sync.Mutex
	msgs map[string][]byte // by topic
	incs map[string]string // box -> incarnation its state names
	live func(name string, data []byte)
}

// put keeps a state or availability message; it returns the incarnation
// a box state names when it differs from the one it named before.
func (s *boxStates) put(topic, leaf string, body []byte) (newInc string) {
	b := append([]byte(nil), body...)
	s.mu.Lock()
	s.msgs[topic] = b
	if leaf == "state" {
		var st contract.State
		if json.Unmarshal(b, &st) == nil && st.Incarnation != "" && s.incs[st.Box] != st.Incarnation {
			s.incs[st.Box] = st.Incarnation
			newInc = st.Incarnation
		}
	}
	s.mu.Unlock()
	s.live(leaf, b)
	return newInc
}

func (s *boxStates) snapshot() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, 0, len(s.msgs))
	for _, v := range s.msgs {
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
