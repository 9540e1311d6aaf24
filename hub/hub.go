// Package hub is hubd, the station hub of a crossing: an embedded MQTT
// broker (mochi-mqtt) that admits only known boxes, stores every reading
// once, runs the rules, raises alerts and serves the live page.
//
// The path of one reading at the hub: box PUBLISH -> auth/ACL hook ->
// ingest hook (validate, store, dedupe, rules, alerts) -> PUBACK. Ingest runs
// inside the broker's publish path, before the PUBACK is sent, so a box
// deletes a reading from its outbox only once the hub has it on disk.
package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/blo"
	"github.com/kordon/kordon/drivers"
	"github.com/kordon/kordon/hub/dash"
	"github.com/kordon/kordon/hub/watchlist"
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
	TLS       *TLSConfig  `yaml:"tls"`   // mutual-TLS listener (tls.go), the production mode
	Users     []dash.User `yaml:"users"` // dashboard log-ins (hub/dash, docs/screens.md)
	// Watchlist of wanted documents, held as keyed hashes (hub/watchlist, watch.go).
	Watchlist watchlist.Config `yaml:"watchlist"`
	// BLO is the crossing's place on the BLO network: links to the sister
	// BLO and to the coordination centre (hub/blo.go, docs/blo-network.md).
	BLO *blo.Config `yaml:"blo"`
}

// BoxCreds admits one box. The password is stored only as a bcrypt hash
// (`hubd passwd SECRET` prints one).
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
	MaxPayload    int    `yaml:"max_payload"`    // bytes, default 256 KiB
	MaxInflight   uint16 `yaml:"max_inflight"`   // unacknowledged QoS 1 messages per client, default 64
	SessionExpiry uint32 `yaml:"session_expiry"` // seconds a disconnected session is kept, default 3600
	MaxClients    int64  `yaml:"max_clients"`    // connected clients, default 256
}

// LoadConfig reads a hub config strictly.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if c.Crossing == "" || (c.MQTT == "" && c.TLS == nil) || c.DataDir == "" {
		return nil, fmt.Errorf("%s: crossing, mqtt (or tls) and data_dir are required", path)
	}
	for i, b := range c.Boxes {
		// With mutual TLS a box may have no password: its certificate is its identity.
		if b.Box == "" || (b.PasswordHash == "" && c.TLS == nil) {
			return nil, fmt.Errorf("%s: boxes[%d]: box and password_hash are required", path, i)
		}
	}
	return &c, nil
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

	gaps     *gapTracker    // sequence gaps and resend requests (gaps.go)
	cmds     commandTracker // commands to boxes and their replies (commands.go)
	watch    watchState     // the watchlist (watch.go)
	mqttAddr net.Addr
	httpAddr net.Addr
	tlsAddr  net.Addr

	blo atomic.Pointer[blo.Engine] // the BLO network (blo.go), nil without a blo section
}

// New builds a hub; Start opens its listeners.
func New(cfg *Config, log *slog.Logger) (*Hub, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	rulesName, rulesSrc := "rules.default.yaml", defaultRules
	if cfg.Rules != "" {
		b, err := os.ReadFile(cfg.Rules)
		if err != nil {
			return nil, err
		}
		rulesName, rulesSrc = cfg.Rules, b
	}
	rules, err := compileRules(rulesName, rulesSrc)
	if err != nil {
		return nil, err
	}
	val, err := schema.New(drivers.PayloadSchemas())
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
	h := &Hub{cfg: cfg, log: log, store: st, live: newBroadcaster()}
	if err := h.openWatchlist(); err != nil {
		return nil, err
	}
	observers := map[string][]byte{}
	for _, o := range cfg.Observers {
		if _, clash := boxes[o.User]; clash {
			return nil, fmt.Errorf("observer %q has a box's name", o.User)
		}
		observers[o.User] = []byte(o.PasswordHash)
	}
	h.auth = &authHook{crossing: cfg.Crossing, boxes: boxes, observers: observers}
	h.ingest = &ingestHook{hub: h, validator: val, rules: rules, maxPayload: maxPayload, states: map[string][]byte{}}

	opts := &mqtt.Options{InlineClient: true, Logger: log.With("part", "broker")}
	opts.Capabilities = mqtt.NewDefaultServerCapabilities()
	opts.Capabilities.MaximumPacketSize = uint32(maxPayload + 1024)
	applyLimits(opts.Capabilities, cfg.Limits)
	h.gaps = newGapTracker(h)
	h.broker = mqtt.New(opts)
	if err := h.broker.AddHook(h.auth, nil); err != nil {
		return nil, err
	}
	if err := h.broker.AddHook(h.ingest, nil); err != nil {
		return nil, err
	}
	return h, nil
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
		tcp := listeners.NewTCP(listeners.Config{ID: "boxes", Address: h.mqttAddr.String()})
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
			if err := h.http.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
				h.log.Error("http", "err", err)
			}
		}()
	}
	go h.ingest.publishAlerts()
	go h.gaps.run()
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

// Close stops the broker and web server and closes the database.
func (h *Hub) Close() error {
	if h.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		h.http.Shutdown(ctx)
		cancel()
	}
	h.live.close()
	err := h.broker.Close()
	h.ingest.stop()
	h.gaps.stop()
	h.stopWatchlist()
	h.stopBLO()
	if e := h.store.close(); err == nil {
		err = e
	}
	return err
}

// Counters are the hub's running totals (metrics come with their issue).
type Counters struct {
	Readings   int64 `json:"readings"`
	Duplicates int64 `json:"duplicates"`
	Refused    int64 `json:"refused_payloads"`
	Alerts     int64 `json:"alerts"`
	Clients    int64 `json:"refused_clients"`
	Denied     int64 `json:"denied_topics"`
}

// Counters returns a snapshot.
func (h *Hub) Counters() Counters {
	return Counters{
		Readings: h.ingest.readings.Load(), Duplicates: h.ingest.duplicates.Load(),
		Refused: h.ingest.refused.Load(), Alerts: h.ingest.alerts.Load(),
		Clients: h.auth.refused.Load(), Denied: h.auth.denied.Load(),
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

func (b *broadcaster) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	for ch := range b.subs {
		close(ch)
		delete(b.subs, ch)
	}
}
