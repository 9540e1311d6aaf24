// Package hub is hubd, the station hub of a crossing: an embedded MQTT
// broker (mochi-mqtt) that admits only known boxes, stores every reading
// once, runs the rules, raises alerts and serves the live page.
//
// The path of one reading at the hub (pipeline.go): box PUBLISH -> auth/ACL
// hook -> ingest hook (validate once, rules' expressions) -> group commit
// (the reading, its alerts and the rules' state in one transaction with
// other boxes' readings) -> PUBACK, then the after-commit subscribers
// (hub/events: live page, alert publishing, gaps, counters, and any other
// part that attaches with Subscribe). A box deletes a reading from its
// outbox only once the hub has it on disk.
package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/kordon/kordon/blo"
	"github.com/kordon/kordon/drivers"
	"github.com/kordon/kordon/hub/dash"
	"github.com/kordon/kordon/hub/events"
	"github.com/kordon/kordon/hub/groupcommit"
	"github.com/kordon/kordon/hub/personal"
	"github.com/kordon/kordon/hub/watchlist"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/logging"
	"github.com/kordon/kordon/internal/schema"
)

// Config is hubd's configuration file (docs/hubd.md).
type Config struct {
	Crossing string     `yaml:"crossing"`
	MQTT     string     `yaml:"mqtt"`     // broker listener, e.g. ":1883"
	HTTP     string     `yaml:"http"`     // live page and API, e.g. ":8080"
	DataDir  string     `yaml:"data_dir"` // SQLite database
	Rules    string     `yaml:"rules"`    // rules file; empty = built-in rules
	Boxes    []BoxCreds `yaml:"boxes"`
	// Observers may read every topic of the crossing and write none
	// (monitoring tools, the BLO's own clients, tests).
	Observers []Observer  `yaml:"observers"`
	Limits    LimitConfig `yaml:"limits"`
	TLS       *TLSConfig  `yaml:"tls"`      // mutual-TLS listener (tls.go), the production mode
	Users     []dash.User `yaml:"users"`    // dashboard log-ins (hub/dash, docs/screens.md)
	HTTPTLS   *WebTLS     `yaml:"http_tls"` // serve the web listener over HTTPS (web.go)
	// Watchlist of wanted documents, held as keyed hashes (hub/watchlist, watch.go).
	Watchlist watchlist.Config `yaml:"watchlist"`
	// LogLevel is debug, info (the default), warn or error; -log-level overrides it.
	LogLevel string `yaml:"log_level"`
	// Ingest bounds the group commit (pipeline.go).
	Ingest IngestConfig `yaml:"ingest"`
	// Retention is how long readings are kept (retention.go).
	Retention RetentionConfig `yaml:"retention"`
	// Evidence: files readings reference, fetched from boxes on request (evidence.go).
	Evidence EvidenceConfig `yaml:"evidence"`
	// BLO is the crossing's place on the BLO network: links to the sister
	// BLO and to the coordination centre (hub/blo.go, docs/blo-network.md).
	BLO *blo.Config `yaml:"blo"`
	// Language is the dashboard's default language (an i18n code: ru,
	// en, kk, ...); each user can still switch. Default ru.
	Language string `yaml:"language"`
}

// clientReadBuffer is how much of a connection the broker reads at once.
// mochi's 2 KiB took a syscall for every two or three readings of a
// draining box; 16 KiB takes what a window's burst left in the socket,
// at 4 MiB for the 256 connections allowed to wait for their CONNECT.
const clientReadBuffer = 16 << 10

// IngestConfig bounds the transactions readings share (docs/hubd.md).
type IngestConfig struct {
	// CommitBatch is the most messages one transaction holds (default 4096).
	CommitBatch int `yaml:"commit_batch"`
	// CommitWait is how long the first message of a transaction may wait
	// for others (default 0: a transaction takes what arrived while the one
	// before committed, so a lone reading is not delayed).
	CommitWait Duration `yaml:"commit_wait"`
}

// BoxCreds admits one box. The password is stored only as a bcrypt hash
// (`hubd passwd` prints one, reading the secret from stdin).
type BoxCreds struct {
	Box          string `yaml:"box"`
	PasswordHash string `yaml:"password_hash"`
}

// Observer is a read-only MQTT identity.
type Observer struct {
	User         string `yaml:"user"`
	PasswordHash string `yaml:"password_hash"`
}

// LimitConfig bounds what one client can make the hub do.
type LimitConfig struct {
	MaxPayload    int              `yaml:"max_payload"`    // bytes, default 256 KiB
	MaxInflight   uint16           `yaml:"max_inflight"`   // unacknowledged QoS 1 messages per client, default 256
	SessionExpiry uint32           `yaml:"session_expiry"` // seconds a disconnected session is kept, default 3600
	MaxClients    int64            `yaml:"max_clients"`    // connected clients, default 256
	Guard         `yaml:",inline"` // per-identity limits of the broker (limits.go)
}

// Hub is one running hubd.
type Hub struct {
	cfg    *Config
	log    *slog.Logger
	broker *mqtt.Server
	auth   *authHook
	ingest *ingestHook
	store  *store
	live   *broadcaster
	http   *http.Server

	rules     *ruleSet
	commit    *groupcommit.Committer[*job]
	pipeline  *pipeline
	count     *counters
	subs      *events.Fanout  // after-commit subscribers
	alerts    *alertPublisher // alerts on the crossing's alert topic
	gaps      *gapTracker     // sequence gaps and resend requests (gaps.go)
	retention *pruner         // old readings removed (retention.go)
	cmds      commandTracker  // commands to boxes and their replies (commands.go)
	watch     watchState      // the watchlist (watch.go)
	takeover  *takeoverHook   // one identity connected twice (takeover.go)
	evidence  *evidenceHub    // evidence files on request (evidence.go)
	quit      chan struct{}   // closed by Close
	failed    chan error      // the store's failure that only a restart mends (Failed)
	closeOnce sync.Once       // Close may be called again: it closes once
	closeErr  error
	started   bool // Start ran
	mqttAddr  net.Addr
	httpAddr  net.Addr
	tlsAddr   net.Addr

	blo atomic.Pointer[blo.Engine] // the BLO network (blo.go), nil without a blo section
}

// New builds a hub; Start opens its listeners.
func New(cfg *Config, log *slog.Logger) (*Hub, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	rules, err := defaultRules()
	if cfg.Rules != "" {
		b, rerr := os.ReadFile(cfg.Rules)
		if rerr != nil {
			return nil, rerr
		}
		rules, err = compileRules(cfg.Rules, b)
	}
	if err != nil {
		return nil, err
	}
	rules.errs.log = log.With("part", "rules")
	schemas := drivers.PayloadSchemas()
	val, err := schema.New(schemas)
	if err != nil {
		return nil, err
	}
	pf, err := personal.FromSchemas(schemas)
	if err != nil {
		return nil, err
	}
	st, err := openStore(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	maxPayload := cfg.Limits.MaxPayload
	if maxPayload == 0 {
		maxPayload = 256 << 10
	}
	boxes := map[string][]byte{}
	for _, b := range cfg.Boxes {
		boxes[b.Box] = []byte(b.PasswordHash)
	}
	h := &Hub{cfg: cfg, log: log, store: st, live: newBroadcaster(), rules: rules, count: newCounters(),
		subs: &events.Fanout{}, quit: make(chan struct{}), failed: make(chan error, 1)}
	if err := h.openWatchlist(); err != nil {
		st.close()
		return nil, err
	}
	observers := map[string][]byte{}
	for _, o := range cfg.Observers {
		if _, clash := boxes[o.User]; clash {
			st.close()
			return nil, fmt.Errorf("observer %q has a box's name", o.User)
		}
		observers[o.User] = []byte(o.PasswordHash)
	}
	h.auth = newAuthHook(cfg.Crossing, boxes, observers, cfg.Limits.Guard, val, newRedactor(schemas))

	opts := &mqtt.Options{InlineClient: true, Logger: logging.Library(log.With("part", "broker"), "broker connection ended"),
		ClientNetReadBufferSize: clientReadBuffer}
	opts.Capabilities = mqtt.NewDefaultServerCapabilities()
	opts.Capabilities.MaximumPacketSize = uint32(maxPayload + 1024)
	applyLimits(opts.Capabilities, cfg.Limits)
	h.broker = mqtt.New(opts)
	h.auth.broker = h.broker

	// After the commit, in this order: counters are part of the pipeline;
	// then the gap detector, alert publishing and the live page.
	h.gaps = newGapTracker(st, h.publishCommand, log.With("part", "gaps"))
	batch := cfg.Ingest.CommitBatch
	if batch <= 0 {
		// Large enough that a commit of many boxes' windows writes each
		// box's index leaf once for many of its readings (with 200 boxes a
		// commit dirties about one leaf per box): at 4096 the committer
		// spends about a quarter less CPU per routine reading than at 1024. At
		// nominal load a batch is a few readings anyway.
		batch = 4096
	}
	h.alerts = newAlertPublisher(func(js []byte) error {
		return h.broker.Publish(contract.Alerts(cfg.Crossing), js, false, 1)
	}, 2*batch, log.With("part", "alerts"))
	h.subs.Add(h.gaps)
	h.subs.Add(h.alerts)
	h.subs.Add(h.live)
	h.subs.Add(bloSubscriber{h}) // the BLO uplink, once it runs (blo.go)
	st.changed = h.subs

	pl := newPipeline(st, cfg.Crossing, rules, h.subs, h.count)
	pl.held = h.auth.fair.held
	pl.notDurable = func(err error) {
		select {
		case h.failed <- err:
			log.Error("the database's log could not be synced: nothing more is stored until hubd restarts", "err", err)
		default: // told once
		}
	}
	if err := loadKnown(st, pl, h.count); err != nil {
		st.close()
		return nil, fmt.Errorf("hub db: %w", err)
	}
	h.pipeline = pl
	h.commit = groupcommit.New[*job](st.db, pl, groupcommit.Options[*job]{MaxBatch: batch, MaxWait: time.Duration(cfg.Ingest.CommitWait), Observe: pl.observeBatch, Linger: pl.Linger,
		Sync: st.wal.sync, Between: st.letWALStartOver})
	h.retention = newPruner(st.db, cfg.Retention, slices.Collect(maps.Keys(schemas)), log.With("part", "retention"))
	inflight := int(cfg.Limits.MaxInflight)
	if inflight == 0 {
		inflight = defaultInflight
	}
	relayed := newRelayTopics(func(topic string) bool {
		s := h.broker.Topics.Subscribers(topic)
		return len(s.Subscriptions)+len(s.Shared)+len(s.InlineSubscriptions) > 0
	})
	if err := h.broker.AddHook(relayed, nil); err != nil {
		return nil, err
	}
	h.ingest = &ingestHook{
		parse:  &parser{crossing: cfg.Crossing, validator: val, personal: pf, maxPayload: maxPayload},
		rules:  rules,
		watch:  h.watchlistAlerts,
		commit: h.commit,
		replies: func(box string, body []byte) {
			h.gaps.reply(box, body) // answers to resend requests (gaps.go)
			h.takeReply(box, body)  // results of commands (commands.go)
		},
		states: &boxStates{msgs: map[string][]byte{}, incs: map[string]string{}, live: func(name string, data []byte) {
			h.live.send(event{Name: name, Data: data})
		}},
		relay: func(topic string, payload []byte) {
			if relayed.any(topic) {
				h.broker.Publish(topic, payload, false, 1)
			}
		},
		count:    h.count,
		log:      log.With("part", "ingest"),
		inflight: inflight,
		pipes:    map[*mqtt.Client]*boxPipe{},
	}
	if err := h.broker.AddHook(h.auth, nil); err != nil {
		return nil, err
	}
	if err := h.startEvidence(maxPayload); err != nil { // before ingest: it takes the evidence chunks (evidence.go)
		return nil, err
	}
	if err := h.broker.AddHook(h.ingest, nil); err != nil {
		return nil, err
	}
	if err := h.broker.AddHook(&willHook{broker: h.broker, crossing: cfg.Crossing, ingest: h.ingest, auth: h.auth, log: log.With("part", "ingest")}, nil); err != nil {
		return nil, err
	}
	h.takeover = newTakeoverHook(h.broker, log.With("part", "broker"))
	if err := h.broker.AddHook(h.takeover, nil); err != nil {
		return nil, err
	}
	return h, nil
}

// Failed tells of a failure of the store that only a restart mends: the
// disk did not confirm a write (a failed fsync), after which nothing more
// is stored, and a restart reads back what the disk holds. The boxes keep
// every reading not acknowledged and send it again. hubd exits on it, for
// its supervisor to start it again.
func (h *Hub) Failed() <-chan error { return h.failed }

// Subscribe attaches a part that acts on committed data: readings, alerts
// raised, alert changes (repeats, clears, acknowledgements, resolutions),
// refusals and new incarnations (hub/events). Call it before Start.
func (h *Hub) Subscribe(s events.Subscriber) { h.subs.Add(s) }

func (h *Hub) publishCommand(box string, cmd contract.Command) error {
	js, _ := json.Marshal(cmd)
	return h.broker.Publish(contract.Commands(h.cfg.Crossing, box), js, false, 1)
}

// loadKnown reads what the pipeline and the counters carry over a restart.
func loadKnown(st *store, pl *pipeline, c *counters) error {
	rows, err := st.rd.Query(`SELECT box, incarnation FROM incarnations`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var box, inc string
		if err := rows.Scan(&box, &inc); err != nil {
			return err
		}
		pl.incs[box+"\x00"+inc] = true
		c.incarnations[box]++
	}
	return rows.Err()
}

// Start opens the MQTT and HTTP listeners and returns once they accept.
func (h *Hub) Start() error {
	h.startRules()
	if h.cfg.MQTT != "" {
		ln, err := net.Listen("tcp", h.cfg.MQTT)
		if err != nil {
			return fmt.Errorf("mqtt listen: %w", err)
		}
		h.mqttAddr = ln.Addr()
		ln.Close() // mochi opens its own listener on the address we proved free
		tcp := newGuardedListener("boxes", h.mqttAddr.String(), nil, h.auth.guard, h.auth.counts)
		tcp.broker = h.broker
		h.auth.listeners = append(h.auth.listeners, tcp)
		if err := h.broker.AddListener(tcp); err != nil {
			return err
		}
	}
	if err := h.startTLS(); err != nil {
		return err
	}
	if err := h.broker.Serve(); err != nil {
		return err
	}
	if h.cfg.HTTP != "" {
		hl, err := net.Listen("tcp", h.cfg.HTTP)
		if err != nil {
			return fmt.Errorf("http listen: %w", err)
		}
		h.httpAddr = hl.Addr()
		h.http = &http.Server{Handler: h.webHandler(), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := h.serveHTTP(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
				h.log.Error("http", "err", err)
			}
		}()
	}
	go h.alerts.run()
	go h.gaps.run()
	h.started = true
	go h.retention.run()
	h.startWatchlist()
	if err := h.startBLO(); err != nil {
		return fmt.Errorf("blo: %w", err)
	}
	h.log.Info("hub started", "crossing", h.cfg.Crossing, "mqtt", h.mqttAddr, "http", h.httpAddr)
	return nil
}

// MQTTAddr is the broker's listening address (useful with port 0).
func (h *Hub) MQTTAddr() string {
	if h.mqttAddr == nil {
		return ""
	}
	return h.mqttAddr.String()
}

// HTTPAddr is the web listener's address, or "".
func (h *Hub) HTTPAddr() string {
	if h.httpAddr == nil {
		return ""
	}
	return h.httpAddr.String()
}

// Close stops the broker and web server, lets the last batch commit, and
// closes the database. A second call waits for the first and returns its error.
func (h *Hub) Close() error {
	h.closeOnce.Do(func() { h.closeErr = h.close() })
	return h.closeErr
}

func (h *Hub) close() error {
	if h.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		h.http.Shutdown(ctx)
		cancel()
	}
	h.live.close()
	err := h.broker.Close()
	h.commit.Close()
	close(h.quit)
	h.alerts.stop()
	h.gaps.stop()
	h.retention.stop()
	if h.started {
		<-h.retention.done
	}
	h.stopWatchlist()
	h.stopEvidence() // evidence.go
	h.stopBLO()
	if e := h.store.close(); err == nil {
		err = e
	}
	return err
}

// Counters are the hub's running totals.
type Counters struct {
	Readings      int64 `json:"readings"`
	Duplicates    int64 `json:"duplicates"`
	Refused       int64 `json:"refused_payloads"`
	Alerts        int64 `json:"alerts"`
	Clients       int64 `json:"refused_clients"`
	Denied        int64 `json:"denied_topics"`
	StoreFailures int64 `json:"store_failures"`
}

// Counters returns a snapshot.
func (h *Hub) Counters() Counters {
	return Counters{
		Readings: h.count.readings.Load(), Duplicates: h.count.duplicates.Load(),
		Refused: h.count.refused.Load(), Alerts: h.count.alerts.Load(),
		Clients: h.auth.refused.Load(), Denied: h.auth.denied.Load(),
		StoreFailures: h.count.storeFailures.Load(),
	}
}

// broadcaster fans live events out to page viewers; a slow viewer misses
// events rather than slowing ingest.
type broadcaster struct {
	mu   sync.Mutex
	subs map[chan event]struct{}
	done bool
}

type event struct {
	Name string // reading | alert | availability | state
	Data []byte
}

func newBroadcaster() *broadcaster { return &broadcaster{subs: map[chan event]struct{}{}} }

func (b *broadcaster) subscribe() (chan event, func()) {
	ch := make(chan event, 64)
	b.mu.Lock()
	if b.done {
		close(ch)
	} else {
		b.subs[ch] = struct{}{}
	}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		if _, ok := b.subs[ch]; ok {
			delete(b.subs, ch)
			close(ch)
		}
		b.mu.Unlock()
	}
}

func (b *broadcaster) send(e event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

// Committed shows committed readings and alerts to the page viewers
// (readings with the kind's personal fields withheld).
func (b *broadcaster) Committed(batch *events.Batch) {
	b.mu.Lock()
	viewers := len(b.subs)
	b.mu.Unlock()
	if viewers == 0 {
		return
	}
	for _, r := range batch.Readings {
		b.send(event{Name: "reading", Data: r.Redacted()})
	}
	for i, a := range batch.Alerts {
		var js []byte
		if i < len(batch.AlertJSON) {
			js = batch.AlertJSON[i]
		}
		if js == nil {
			js, _ = json.Marshal(a)
		}
		b.send(event{Name: "alert", Data: js})
	}
	for _, c := range batch.Changes {
		if c.Action != "raised" {
			b.send(event{Name: "alert-update", Data: []byte(`{}`)})
			break
		}
	}
}

func (b *broadcaster) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	for ch := range b.subs {
		close(ch)
		delete(b.subs, ch)
	}
}
