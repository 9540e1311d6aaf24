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
// publish path. mochi (v2.7.9, server.go processPublish) calls OnPublish on
// the box's connection goroutine and would write the PUBACK as soon as it
// returns. A box sends up to its window of readings before the first
// PUBACK; waiting here for each reading's commit would let one box have a
// single reading in each transaction, so a backlog would drain at one
// commit per reading. Instead a reading is queued for the group commit and
// mochi is told to send nothing (see OnPublish); the PUBACK is written by
// the box's own acker once the reading's transaction has committed, in the
// order the box sent its readings. A failed commit sends no PUBACK: the box
// keeps the reading and sends it again.
type ingestHook struct {
	mqtt.HookBase
	parse  *parser
	rules  *ruleSet
	watch  func(p *parsed, now time.Time) []contract.Alert
	commit *groupcommit.Committer[*job]
	// replies takes a box's answers to commands and resend requests.
	replies func(box string, body []byte)
	// relay passes a stored reading on to the broker's subscribers (the
	// observers), as an acknowledged publish would have been.
	relay    func(topic string, payload []byte)
	states   *boxStates
	count    *counters
	log      *slog.Logger
	inflight int // readings of one box awaiting their commit

	mu    sync.Mutex
	pipes map[*mqtt.Client]*boxPipe
}

func (h *ingestHook) ID() string { return "kordon-ingest" }

func (h *ingestHook) Provides(b byte) bool { return b == mqtt.OnPublish || b == mqtt.OnDisconnect }

// OnPublish validates and stores what a box sends. A reading the hub
// refuses is acknowledged, counted, and recorded as refused when it can be
// named (so one bad message cannot jam a box's outbox, and its number is
// not asked for again).
func (h *ingestHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil // the hub's own alerts and commands
	}
	t, ok := contract.Parse(pk.TopicName)
	box := string(cl.Properties.Username)
	if ok && t.Box == box && t.Leaf == "readings" {
		if pk.FixedHeader.Qos == 2 {
			// QoS 2 has mochi's own PUBREC/PUBREL exchange: wait here.
			j := h.readingJob(box, t.Device, pk)
			if err := h.commit.Do(j); err != nil {
				h.storeFailed(box, t.Device, j, err)
				return pk, packets.ErrRejectPacket
			}
			if j.kind != jobReading {
				return packets.Packet{}, packets.CodeSuccessIgnore
			}
			return pk, nil
		}
		h.takeReading(cl, box, t.Device, pk)
		// Acknowledged after the commit, so nothing for mochi to do now:
		// it sends no PUBACK for QoS 0 and delivers nothing marked
		// Ignore (server.go processPublish; no hook here has OnPublished).
		// ErrRejectPacket would do the same, but mochi logs it at debug
		// level with the packet boxed: 800 bytes for every reading.
		pk.FixedHeader.Qos, pk.FixedHeader.Retain, pk.Ignore = 0, false, true
		return pk, nil
	}
	if !ok || t.Box != box {
		return h.refuse(box, pk, &refusal{reason: "unknown topic"})
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

// takeReading queues a reading for the group commit; its PUBACK follows
// the commit.
func (h *ingestHook) takeReading(cl *mqtt.Client, box, device string, pk packets.Packet) {
	pipe := h.pipe(cl)
	pipe.slots <- struct{}{} // at most inflight readings of a box wait for their commit
	j := h.readingJob(box, device, pk)
	// Only what the PUBACK and the relay need, not the packet (800 bytes):
	// done is allocated for every reading.
	id, qos, topic, payload := pk.PacketID, pk.FixedHeader.Qos, pk.TopicName, pk.Payload
	done := func(err error) {
		if err != nil {
			h.storeFailed(box, device, j, err)
		}
		pipe.acks <- ack{id: id, qos: qos, topic: topic, payload: payload, ok: err == nil, relay: err == nil && j.kind == jobReading && j.added}
	}
	if err := h.commit.Submit(j, done); err != nil {
		<-pipe.slots // closing: no PUBACK, the box sends it again
	}
}

// readingJob parses and checks a reading on the box's goroutine: the job
// stores it, or records it refused.
func (h *ingestHook) readingJob(box, device string, pk packets.Packet) *job {
	now := time.Now()
	p, rf := h.parse.reading(box, device, pk.Payload)
	if rf != nil {
		h.noteRefusal(box, pk, rf)
		if rf.named {
			return &job{kind: jobRefusal, ref: rf.ref, received: now, reason: rf.reason, size: len(pk.Payload)}
		}
		return &job{kind: jobAck}
	}
	h.rules.matchInto(p.ruleVars(), &p.match, p.flags[:])
	p.job = job{kind: jobReading, ref: p.ref, received: now, p: p, readingKind: p.recv.KindName, origin: p.r.Origin,
		quality: string(p.r.Quality.Status), body: p.body, watch: h.watch(p, now), match: &p.match}
	p.job.row = readingRow(&p.job, p.row[:0])
	return &p.job
}

func (h *ingestHook) storeFailed(box, device string, j *job, err error) {
	h.count.storeFailures.Add(1)
	h.log.Error("store reading; box will resend", "box", box, "device", device, "seq", j.ref.Seq, "err", err)
}

// noteRefusal counts and logs a refused message.
func (h *ingestHook) noteRefusal(box string, pk packets.Packet, rf *refusal) {
	h.count.refusedPayload(rf.reason)
	args := []any{"box", box, "topic", pk.TopicName, "why", rf.reason, "size", len(pk.Payload)}
	if rf.err != nil {
		args = append(args, "err", redactErr(rf.err))
	}
	h.log.Warn("payload refused", args...)
}

// refuse acknowledges and drops a message that is not a reading.
func (h *ingestHook) refuse(box string, pk packets.Packet, rf *refusal) (packets.Packet, error) {
	h.noteRefusal(box, pk, rf)
	return packets.Packet{}, packets.CodeSuccessIgnore
}

// OnDisconnect ends the box connection's acker.
func (h *ingestHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.mu.Lock()
	p := h.pipes[cl]
	delete(h.pipes, cl)
	h.mu.Unlock()
	if p != nil {
		close(p.quit)
	}
}

// boxPipe orders one connection's PUBACKs: its readings' commits are
// acknowledged in the order they were sent, off the commit path (a box
// that does not read its socket stalls only itself).
type boxPipe struct {
	cl    *mqtt.Client
	slots chan struct{} // readings awaiting their commit
	acks  chan ack      // as large as slots: the commit path never waits
	quit  chan struct{}
}

// ack is one reading's outcome, as small as it can be: a box's acks
// channel holds its whole window of them.
type ack struct {
	id      uint16
	qos     byte
	ok      bool // committed; else no PUBACK and the box sends it again
	relay   bool
	topic   string
	payload []byte
}

func (h *ingestHook) pipe(cl *mqtt.Client) *boxPipe {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p := h.pipes[cl]; p != nil {
		return p
	}
	p := &boxPipe{cl: cl, slots: make(chan struct{}, h.inflight), acks: make(chan ack, h.inflight), quit: make(chan struct{})}
	h.pipes[cl] = p
	go h.runPipe(p)
	return p
}

func (h *ingestHook) runPipe(p *boxPipe) {
	for {
		select {
		case <-p.quit:
			return
		case a := <-p.acks:
			// The PUBACKs of one commit arrive together: they are written
			// corked, in one write (corkconn.go).
			cc, _ := p.cl.Net.Conn.(*corkConn)
			if cc != nil {
				cc.cork()
			}
			h.ack(p, a)
			for more := len(p.acks); more > 0; more-- {
				h.ack(p, <-p.acks)
			}
			if cc != nil {
				cc.uncork() // an error means the box is gone: it sends the readings again, duplicates
			}
		}
	}
}

// ack writes one reading's PUBACK and passes the reading on to observers.
func (h *ingestHook) ack(p *boxPipe, a ack) {
	if a.ok && a.qos > 0 {
		p.cl.WritePacket(packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Puback},
			PacketID:    a.id,
			ReasonCode:  packets.CodeSuccess.Code,
		}) // an error means the box is gone: it sends the reading again, a duplicate
	}
	if a.relay {
		h.relay(a.topic, a.payload)
	}
	<-p.slots
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
