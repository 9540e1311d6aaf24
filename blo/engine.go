package blo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kordon/kordon/hub/watchlist"
	"github.com/kordon/kordon/internal/contract"
)

// Source is what the engine reads from the hub's committed tables. The
// live uplink comes from Committed (the hub's after-commit events); the
// alert log is read only to catch up: on start-up, for what was committed
// but not yet sent before a crash, and when the live events skipped a log
// sequence number. So the hub's own tables are the outbox, and a crash
// between commit and publish loses nothing.
type Source interface {
	// TransitionsAfter returns alert log entries after seq, in order
	// ("raised" entries included: each names an alert to send).
	TransitionsAfter(ctx context.Context, seq int64, limit int) ([]Transition, error)
	// Alert is one alert by its id at this hub (ErrNoAlert if there is none).
	Alert(ctx context.Context, id string) (contract.Alert, error)
	// Readings are the full envelopes behind an alert (personal data
	// included: the policy withholds it).
	Readings(ctx context.Context, refs []contract.ReadingRef) ([][]byte, error)
	// Counts are the readings received in [from, to) by kind.
	Counts(ctx context.Context, from, to time.Time) (map[string]int64, error)
}

// Transition is one entry of an alert's log (acknowledged, resolved,
// repeated, cleared), as it goes to the centre.
type Transition struct {
	Schema   string    `json:"schema"`
	Crossing string    `json:"crossing"`
	Seq      int64     `json:"seq"`
	AlertID  string    `json:"alert_id"` // crossing-qualified
	Action   string    `json:"action"`
	User     string    `json:"user"`
	Role     string    `json:"role"`
	Note     string    `json:"note,omitempty"`
	Time     time.Time `json:"time"`
}

// Health is a box's state or a device's availability as the centre gets it.
type Health struct {
	Schema   string          `json:"schema"`
	Crossing string          `json:"crossing"`
	Box      string          `json:"box"`
	Device   string          `json:"device,omitempty"`
	State    string          `json:"state"`
	Time     time.Time       `json:"time"`
	Body     json.RawMessage `json:"body"`
}

// Counts are one hour's readings by kind at one crossing.
type Counts struct {
	Schema   string           `json:"schema"`
	Crossing string           `json:"crossing"`
	Hour     time.Time        `json:"hour"`
	Counts   map[string]int64 `json:"counts"`
}

// Schema tags of the uplink messages.
const (
	TransitionV1 = "kordon.transition/1"
	HealthV1     = "kordon.health/1"
	CountsV1     = "kordon.counts/1"
)

// Engine is a hub's part of the BLO network: it sends the uplink, shares
// with neighbours by their policies, takes what they share, and keeps
// receipts and the audit log.
type Engine struct {
	site string
	node *Node
	src  Source
	st   *store
	log  *slog.Logger

	hub   *nats.Conn
	hubJS jetstream.JetStream
	peers map[string]*peer

	wake chan struct{}
	quit chan struct{}
	wg   sync.WaitGroup

	// What the hub committed, waiting to go up (Committed). behind says
	// the alert log must be read first: at start, and after a skipped
	// sequence number or an overflow of the queue.
	liveMu sync.Mutex
	live   []logEntry
	behind bool

	centreKey []byte // document keys for the centre (Config.DocumentKey)

	healthMu   sync.Mutex
	healthSent map[string]string

	// OnIncoming is called after a neighbour's share is stored (the
	// dashboard refreshes on it). Set before Start returns work.
	OnIncoming func(Share)

	Published, PublishErrors, Received, Rejected atomic.Int64
}

type peer struct {
	site   string
	policy *Policy
	nc     *nats.Conn
	js     jetstream.JetStream
	cc     jetstream.ConsumeContext
}

// Start brings up the node, the store (the BLO tables in dbPath, the hub's
// SQLite file) and the engine.
func Start(site string, cfg *Config, dataDir, dbPath string, src Source, log *slog.Logger) (*Engine, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{site: site, src: src, log: log.With("part", "blo"), peers: map[string]*peer{},
		wake: make(chan struct{}, 1), quit: make(chan struct{}), healthSent: map[string]string{}, behind: true}
	for _, nb := range cfg.Neighbours {
		p := &peer{site: nb.Site}
		if nb.Policy != "" {
			pol, err := LoadPolicy(nb.Policy)
			if err != nil {
				return nil, err
			}
			if pol.Neighbour != nb.Site {
				return nil, fmt.Errorf("%s: policy is for %q, configured for neighbour %q", nb.Policy, pol.Neighbour, nb.Site)
			}
			p.policy = pol
		}
		e.peers[nb.Site] = p
	}
	if cfg.DocumentKey != "" {
		k, err := watchlist.LoadKey(cfg.DocumentKey)
		if err != nil {
			return nil, fmt.Errorf("blo.document_key: %w", err)
		}
		e.centreKey = k
	}
	st, err := openStore(dbPath, site)
	if err != nil {
		return nil, err
	}
	e.st = st
	node, err := HubNode(site, cfg, dataDir, log)
	if err != nil {
		st.close()
		return nil, err
	}
	e.node = node
	if e.hub, err = node.Connect(HubAccount); err != nil {
		e.Close()
		return nil, err
	}
	e.hubJS, _ = jetstream.New(e.hub)
	for _, p := range e.peers {
		if p.nc, err = node.Connect(NbAccount(p.site)); err != nil {
			e.Close()
			return nil, err
		}
		p.js, _ = jetstream.New(p.nc)
	}
	return e, nil
}

// Run starts consuming and publishing; call once after Start.
func (e *Engine) Run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, p := range e.peers {
		s, err := p.js.Stream(ctx, InStream)
		if err != nil {
			return err
		}
		c, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "engine", AckPolicy: jetstream.AckExplicitPolicy,
			MaxDeliver: -1, AckWait: 30 * time.Second})
		if err != nil {
			return err
		}
		p := p
		if p.cc, err = c.Consume(func(m jetstream.Msg) { e.take(p, m) }); err != nil {
			return err
		}
	}
	e.wg.Add(1)
	go e.pump()
	return nil
}

// logEntry is one alert log entry to send, with its alert when it is the
// "raised" entry.
type logEntry struct {
	t     Transition
	alert *contract.Alert
}

// maxLive bounds what Committed holds while the uplink is slow: beyond it
// the queue is dropped and the engine reads the alert log instead.
const maxLive = 10000

// ErrNoAlert is what a Source answers for an alert it does not have.
var ErrNoAlert = errors.New("no such alert")

// Committed is the hub's after-commit event: the alerts a transaction
// raised and the alert log entries it wrote (each "raised" entry names one
// of the alerts), in commit order. It only queues them and never blocks.
func (e *Engine) Committed(alerts []contract.Alert, log []Transition) {
	if len(log) == 0 {
		return
	}
	byID := make(map[string]*contract.Alert, len(alerts))
	for i := range alerts {
		byID[alerts[i].ID] = &alerts[i]
	}
	e.liveMu.Lock()
	if len(e.live)+len(log) > maxLive {
		e.live, e.behind = nil, true
	} else {
		for _, t := range log {
			le := logEntry{t: t}
			if t.Action == "raised" {
				le.alert = byID[t.AlertID]
			}
			e.live = append(e.live, le)
		}
	}
	e.liveMu.Unlock()
	e.poke()
}

func (e *Engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Node is the engine's NATS node.
func (e *Engine) Node() *Node { return e.node }

// Close stops the engine and its node.
func (e *Engine) Close() error {
	select {
	case <-e.quit:
	default:
		close(e.quit)
	}
	e.wg.Wait()
	for _, p := range e.peers {
		if p.cc != nil {
			p.cc.Stop()
		}
		if p.nc != nil {
			p.nc.Close()
		}
	}
	if e.hub != nil {
		e.hub.Close()
	}
	if e.node != nil {
		e.node.Close()
	}
	if e.st != nil {
		return e.st.close()
	}
	return nil
}

const pumpEvery = 250 * time.Millisecond

func (e *Engine) pump() {
	defer e.wg.Done()
	t := time.NewTicker(pumpEvery)
	defer t.Stop()
	var lastCounts time.Time
	for {
		select {
		case <-e.quit:
			return
		case <-e.wake:
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := e.pumpLog(ctx); err != nil {
			e.log.Warn("uplink alerts and transitions", "err", err)
		}
		if err := e.pumpOutbox(ctx); err != nil {
			e.log.Warn("outbox", "err", err)
		}
		if time.Since(lastCounts) > time.Minute {
			if err := e.pumpCounts(ctx); err != nil {
				e.log.Warn("uplink counts", "err", err)
			} else {
				lastCounts = time.Now()
			}
		}
		cancel()
	}
}

func (e *Engine) publish(ctx context.Context, js jetstream.JetStream, subject, id string, body []byte) error {
	_, err := js.Publish(ctx, subject, body, jetstream.WithMsgID(id))
	if err != nil {
		e.PublishErrors.Add(1)
		return fmt.Errorf("publish %s: %w", id, err)
	}
	e.Published.Add(1)
	return nil
}

// pumpLog sends up what the hub committed: each alert log entry after the
// engine's mark, in order, and with each "raised" entry its alert (shared
// at once with the neighbours whose policy says so). The mark moves after
// each entry is in the uplink stream, so a crash sends an entry again at
// worst, and its message id makes that change nothing.
func (e *Engine) pumpLog(ctx context.Context) error {
	mark := e.st.mark("transitions")
	e.liveMu.Lock()
	behind, live := e.behind, e.live
	e.live = nil
	e.liveMu.Unlock()
	if behind {
		// What is queued is in the log too, and read from there.
		for {
			ts, err := e.src.TransitionsAfter(ctx, mark, 500)
			if err != nil {
				return err
			}
			for _, t := range ts {
				if err := e.sendEntry(ctx, logEntry{t: t}); err != nil {
					return err
				}
				mark = t.Seq
			}
			if len(ts) < 500 {
				break
			}
		}
		e.liveMu.Lock()
		e.behind = false
		e.liveMu.Unlock()
		return nil
	}
	for i, le := range live {
		switch {
		case le.t.Seq <= mark:
			continue // sent while catching up
		case le.t.Seq > mark+1:
			// An entry is missing (two commit paths raced, or the queue
			// overflowed): the log has it.
			e.setBehind()
			return nil
		}
		if err := e.sendEntry(ctx, le); err != nil {
			// The rest is queued again in front of what came meanwhile.
			e.liveMu.Lock()
			e.live = append(append([]logEntry(nil), live[i:]...), e.live...)
			e.liveMu.Unlock()
			return err
		}
		mark = le.t.Seq
	}
	return nil
}

func (e *Engine) setBehind() {
	e.liveMu.Lock()
	e.live, e.behind = nil, true
	e.liveMu.Unlock()
	e.poke()
}

// sendEntry sends one log entry (with its alert, for "raised") and moves
// the mark past it.
func (e *Engine) sendEntry(ctx context.Context, le logEntry) error {
	t := le.t
	if t.Action == "raised" {
		a := le.alert
		if a == nil {
			got, err := e.src.Alert(ctx, t.AlertID)
			switch {
			case errors.Is(err, ErrNoAlert):
				// Removed since (retention): nothing left to send but the entry.
				e.log.Warn("alert raised but no longer stored; its log entry goes up alone", "alert", t.AlertID)
			case err != nil:
				return err
			default:
				a = &got
			}
		}
		if a != nil {
			if err := e.sendAlert(ctx, *a); err != nil {
				return err
			}
		}
	}
	t.Schema, t.Crossing, t.AlertID = TransitionV1, e.site, GlobalID(e.site, t.AlertID)
	t.Time = t.Time.UTC()
	body, _ := json.Marshal(t)
	if err := e.publish(ctx, e.hubJS, UpSubject(e.site, KindTransition), e.site+":transition:"+strconv.FormatInt(t.Seq, 10), body); err != nil {
		return err
	}
	return e.st.setMark("transitions", t.Seq)
}

// sendAlert sends an alert up, with its subjects, and shares it with the
// neighbours whose policy shares it automatically.
func (e *Engine) sendAlert(ctx context.Context, a contract.Alert) error {
	var subjects []Subject
	if len(a.Readings) > 0 {
		readings, err := e.src.Readings(ctx, a.Readings)
		if err != nil {
			return err
		}
		subjects = subjectsOf(e.centreKey, readings)
	}
	a.Crossing = e.site
	a.ID = GlobalID(e.site, a.ID)
	body, _ := json.Marshal(UpAlert{Alert: a, Subjects: subjects})
	if err := e.publish(ctx, e.hubJS, UpSubject(e.site, KindAlert), e.site+":alert:"+a.ID, body); err != nil {
		return err
	}
	for _, p := range e.peers {
		if p.policy == nil {
			continue
		}
		if err := e.autoShare(ctx, p, a); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) kindOf(readings [][]byte) string {
	for _, r := range readings {
		var k struct{ Kind string }
		if json.Unmarshal(r, &k) == nil && k.Kind != "" {
			return k.Kind
		}
	}
	return ""
}

func (e *Engine) autoShare(ctx context.Context, p *peer, a contract.Alert) error {
	readings, err := e.src.Readings(ctx, a.Readings)
	if err != nil {
		return err
	}
	if p.policy.Decide(a.Rule, e.kindOf(readings)) != ShareAuto {
		return nil
	}
	sh, err := p.policy.Build(e.site, a, readings)
	if err != nil {
		return err
	}
	sh.ID = shareID(e.site, p.site, sh.AlertID, "auto")
	sh.SharedBy, sh.Automatic = "policy", true
	now := time.Now()
	sh.SharedAt = ts(now)
	_, err = e.st.addShare(sh, now)
	return err
}

func shareID(from, to, alertID, n string) string {
	h := sha256.Sum256([]byte(alertID))
	return from + ":share:" + to + ":" + hex.EncodeToString(h[:8]) + ":" + n
}

// Errors an officer's Share can meet.
var (
	ErrNoNeighbour = errors.New("no such neighbour")
	ErrNotSharable = errors.New("the policy does not share this alert")
	ErrHandling    = errors.New("handling code not in the policy")
)

// Share sends an alert to a neighbour at an officer's request, with a note
// and a handling code, if the policy allows it.
func (e *Engine) Share(ctx context.Context, alertID, to, user, note, handling string) (Share, error) {
	p, ok := e.peers[to]
	if !ok || p.policy == nil {
		return Share{}, ErrNoNeighbour
	}
	a, err := e.src.Alert(ctx, alertID)
	if err != nil {
		return Share{}, err
	}
	a.Crossing = e.site
	readings, err := e.src.Readings(ctx, a.Readings)
	if err != nil {
		return Share{}, err
	}
	if p.policy.Decide(a.Rule, e.kindOf(readings)) == NotShared {
		return Share{}, ErrNotSharable
	}
	if !p.policy.HandlingAllowed(handling) {
		return Share{}, ErrHandling
	}
	sh, err := p.policy.Build(e.site, a, readings)
	if err != nil {
		return Share{}, err
	}
	n, err := e.st.shareCount(sh.AlertID, to)
	if err != nil {
		return Share{}, err
	}
	sh.ID = shareID(e.site, to, sh.AlertID, strconv.Itoa(n+1))
	sh.SharedBy, sh.Note, sh.Handling = user, note, handling
	now := time.Now()
	sh.SharedAt = ts(now)
	if _, err := e.st.addShare(sh, now); err != nil {
		return Share{}, err
	}
	e.poke()
	return sh, nil
}

func (e *Engine) pumpOutbox(ctx context.Context) error {
	mark := e.st.mark("outbox")
	msgs, err := e.st.outboxAfter(mark, 500)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		js := e.hubJS
		if m.account != "" {
			p, ok := e.peers[m.account]
			if !ok {
				e.log.Warn("outbox message for a neighbour no longer configured; skipped", "id", m.id, "peer", m.account)
				continue
			}
			js = p.js
		}
		if err := e.publish(ctx, js, m.subject, m.id, m.body); err != nil {
			return err
		}
		if err := e.st.setMark("outbox", m.seq); err != nil {
			return err
		}
	}
	if len(msgs) > 0 {
		e.st.trimOutbox(msgs[len(msgs)-1].seq - 10000)
	}
	return nil
}

// pumpCounts sends the hourly counts of the last day; each hour's message
// id carries its counts, so a recount is a new message and the centre
// keeps the latest.
func (e *Engine) pumpCounts(ctx context.Context) error {
	now := time.Now().UTC().Truncate(time.Hour)
	for h := now.Add(-24 * time.Hour); !h.After(now); h = h.Add(time.Hour) {
		c, err := e.src.Counts(ctx, h, h.Add(time.Hour))
		if err != nil {
			return err
		}
		if len(c) == 0 {
			continue
		}
		kinds := make([]string, 0, len(c))
		for k := range c {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		id := e.site + ":counts:" + h.Format("2006010215")
		for _, k := range kinds {
			id += ":" + k + "=" + strconv.FormatInt(c[k], 10)
		}
		body, _ := json.Marshal(Counts{Schema: CountsV1, Crossing: e.site, Hour: h, Counts: c})
		if err := e.publish(ctx, e.hubJS, UpSubject(e.site, KindCounts), id, body); err != nil {
			return err
		}
	}
	return nil
}

// Health sends box states and device availabilities (the hub's retained
// messages) that changed since last sent.
func (e *Engine) Health(msgs [][]byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, m := range msgs {
		var h struct {
			Box, Device, State string
			Time               time.Time
		}
		if json.Unmarshal(m, &h) != nil || h.Box == "" {
			continue
		}
		key := h.Box + "/" + h.Device
		sum := sha256.Sum256(m)
		digest := hex.EncodeToString(sum[:12])
		e.healthMu.Lock()
		same := e.healthSent[key] == digest
		e.healthMu.Unlock()
		if same {
			continue
		}
		body, _ := json.Marshal(Health{Schema: HealthV1, Crossing: e.site, Box: h.Box, Device: h.Device, State: h.State, Time: h.Time, Body: m})
		if err := e.publish(ctx, e.hubJS, UpSubject(e.site, KindHealth), e.site+":health:"+digest, body); err != nil {
			e.log.Warn("uplink health", "err", err)
			continue
		}
		e.healthMu.Lock()
		e.healthSent[key] = digest
		e.healthMu.Unlock()
	}
}

// take handles one message from a neighbour's IN stream.
func (e *Engine) take(p *peer, m jetstream.Msg) {
	var err error
	switch KindOf(m.Subject()) {
	case KindShare:
		var sh Share
		if json.Unmarshal(m.Data(), &sh) != nil || sh.Schema != ShareV1 || sh.From != p.site || sh.To != e.site || sh.ID == "" {
			e.Rejected.Add(1)
			e.log.Warn("share refused: malformed or misaddressed", "peer", p.site)
			m.Term()
			return
		}
		var added bool
		added, err = e.st.addIncoming(sh, time.Now())
		if err == nil && added {
			e.Received.Add(1)
			if e.OnIncoming != nil {
				e.OnIncoming(sh)
			}
		}
	case KindReceipt:
		var r Receipt
		if json.Unmarshal(m.Data(), &r) != nil || r.Schema != ReceiptV1 || r.From != p.site || r.To != e.site {
			e.Rejected.Add(1)
			m.Term()
			return
		}
		policy := ""
		if p.policy != nil {
			policy = p.policy.Name
		}
		_, err = e.st.addReceipt(r, policy)
	default:
		e.Rejected.Add(1)
		m.Term()
		return
	}
	if err != nil {
		e.log.Warn("neighbour message not stored; it will be redelivered", "peer", p.site, "err", err)
		m.Nak()
		return
	}
	m.Ack()
	e.poke()
}

// MarkSeen and Acknowledge record what an officer did with an incoming
// alert and send the receipt back.
func (e *Engine) MarkSeen(id, user string) error { return e.mark(id, Seen, user) }

// Acknowledge: see MarkSeen.
func (e *Engine) Acknowledge(id, user string) error { return e.mark(id, Acknowledged, user) }

func (e *Engine) mark(id, status, user string) error {
	_, _, err := e.st.markIncoming(id, status, user, time.Now())
	if err == nil {
		e.poke()
	}
	return err
}

// ErrNoIncoming is returned for an unknown incoming alert id.
var ErrNoIncoming = errNoIncoming

// Incoming lists alerts neighbours shared with this hub, newest first.
func (e *Engine) Incoming(ctx context.Context, limit int) ([]Incoming, error) {
	return e.st.incoming(ctx, limit)
}

// Sent lists the shares of one alert (id at this hub) and their receipts.
func (e *Engine) Sent(ctx context.Context, alertID string) ([]SentShare, error) {
	return e.st.sent(ctx, GlobalID(e.site, alertID))
}

// Audit lists the audit log after seq.
func (e *Engine) Audit(ctx context.Context, seq int64, limit int) ([]AuditEntry, error) {
	return e.st.auditAfter(ctx, seq, limit)
}

// LinkStatus is one link and whether it is up.
type LinkStatus struct {
	Peer string `json:"peer"`
	Up   bool   `json:"up"`
}

// Links says which links are up now.
func (e *Engine) Links() []LinkStatus {
	up := e.node.Links()
	var out []LinkStatus
	for site := range e.peers {
		out = append(out, LinkStatus{Peer: site, Up: up[NbAccount(site)]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Peer < out[j].Peer })
	if e.node.hasCentre {
		out = append(out, LinkStatus{Peer: CentreDomain, Up: up[HubAccount]})
	}
	return out
}

// Neighbours lists the neighbours and their policies' handling codes (the
// Share dialog offers them).
func (e *Engine) Neighbours() map[string][]string {
	out := map[string][]string{}
	for site, p := range e.peers {
		if p.policy != nil {
			out[site] = append([]string{}, p.policy.HandlingCodes...)
		}
	}
	return out
}
