// Package edge is edged, the program on every edge box: it runs one
// supervised loop per device, takes every reading into the durable outbox,
// and forwards the outbox to the hub over MQTT.
//
// The path of one reading: driver Run -> Output.Emit (stamp identity and
// clock) -> the line (line.go): outbox (sequence, encoded once, on disk),
// booth, local triggers, accounting; then publisher -> MQTT QoS 1 -> Ack.
package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/santhosh-tekuri/jsonschema/v6"

	payloads "github.com/kordon/kordon/drivers"
	"github.com/kordon/kordon/edge/booth"
	"github.com/kordon/kordon/edge/outbox"
	"github.com/kordon/kordon/internal/clock"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/schema"
	"github.com/kordon/kordon/internal/version"
)

// Box is one running edged.
type Box struct {
	cfg     *Config
	devices []device.Config
	drivers map[string]device.Driver // by device id
	log     *slog.Logger
	outbox  *outbox.Outbox
	inc     string // the outbox's incarnation, stamped on every reading
	clock   func() reading.Clock
	valid   *schema.Validator // every reading is checked before it is taken

	mu       sync.Mutex
	avail    map[string]contract.DeviceAvailability
	counters map[string]map[string]int64 // device -> counter -> n
	client   mqtt.Client
	conn     chan struct{} // closed while connected
	booth    *booth.Booth
	pub      pubStats      // publisher counters (publish.go)
	dirty    chan struct{} // the retained state changed (counters, loss)
	act      actuation     // local triggers and hub commands (actuation.go, commands.go)
	stages   []stage       // the path of every reading, in order (line.go)
	// lastReading: device id -> origin of its last reading taken (metrics_devices.go).
	lastReading sync.Map

	ev evidenceBox // files readings reference, served on request (evidence.go)

	started chan struct{} // closed once Run has opened everything (Started)
	// listenRetry is how long serve waits before it tries a taken address
	// again.
	listenRetry time.Duration
}

// serve keeps srv listening on its address while ctx lasts. An address
// already taken (the edged being replaced has not let go of it yet,
// another service holds it) is tried again every listenRetry, so that the
// page comes up once the address is free rather than never; the readings
// flow meanwhile. The first failure is logged as an error, with what to
// look for, and the listener coming up after it.
func (b *Box) serve(ctx context.Context, srv *http.Server, what string) {
	retry := b.listenRetry
	if retry <= 0 {
		retry = 5 * time.Second
	}
	for tries := 0; ; tries++ {
		ln, err := net.Listen("tcp", srv.Addr)
		if err == nil {
			if tries > 0 {
				b.log.Info(what+" listening", "addr", srv.Addr, "tries", tries+1)
			}
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				b.log.Error(what, "err", err)
			}
			return
		}
		if tries == 0 {
			b.log.Error(what+" not listening; trying again (is another process on its address?)", "addr", srv.Addr, "every", retry, "err", err)
		}
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// New prepares a box from a loaded config. Nothing is opened until Run.
func New(cfg *Config, devices []device.Config, drivers []device.Driver, log *slog.Logger) (*Box, error) {
	byName := map[string]device.Driver{}
	for _, d := range drivers {
		byName[d.Name] = d
		for _, a := range d.Aliases {
			byName[a] = d
		}
	}
	b := &Box{
		cfg: cfg, devices: devices, drivers: map[string]device.Driver{}, log: log, clock: clock.State,
		avail: map[string]contract.DeviceAvailability{}, counters: map[string]map[string]int64{},
		conn: make(chan struct{}), booth: booth.New(cfg.Box, cfg.Booth), dirty: make(chan struct{}, 1),
		started: make(chan struct{}),
	}
	v, err := schema.New(payloads.PayloadSchemas())
	if err != nil {
		return nil, fmt.Errorf("schemas: %w", err)
	}
	b.valid = v
	for i, d := range cfg.Devices {
		b.drivers[devices[i].ID] = byName[d.Driver]
	}
	b.act.drivers = drivers
	b.stages = b.line()
	return b, nil
}

// Run runs the box until ctx ends.
func (b *Box) Run(ctx context.Context) error {
	ctx, stop := b.runContext(ctx)
	defer stop(nil)
	ob, err := outbox.Open(b.cfg.StateDir, outbox.Options{MaxBytes: b.cfg.Outbox.MaxBytes, SegmentBytes: b.cfg.Outbox.SegmentBytes})
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	defer ob.Close()
	st := ob.Stats()
	if st.TornBytes > 0 {
		b.log.Warn("outbox: cut a torn record from the tail", "bytes", st.TornBytes)
	}
	if n := st.Dropped[outbox.LostCorrupt]; n > 0 {
		b.log.Error("outbox: readings lost to a damaged or missing segment", "lost", n)
	}
	if st.IncarnationSince.After(time.Now().Add(-time.Minute)) && st.IncarnationReason != "" {
		b.log.Warn("outbox: new incarnation: sequence numbers start again", "incarnation", st.Incarnation, "reason", st.IncarnationReason)
	}
	b.mu.Lock()
	b.outbox, b.inc = ob, ob.Incarnation()
	b.mu.Unlock()

	var wg sync.WaitGroup
	if b.cfg.HTTP != "" {
		srv := &http.Server{Addr: b.cfg.HTTP, Handler: b.httpHandler(), ReadHeaderTimeout: 5 * time.Second}
		go b.serve(ctx, srv, "status page")
		defer srv.Close()
	}
	// The booth readout has its own listener: it shows personal data, so
	// only the booth's screen may reach it (edge/booth screen.go).
	token, err := booth.ScreenToken(b.cfg.Booth)
	if err != nil {
		return err
	}
	boothAddr := b.cfg.Booth.Listen
	if boothAddr == "" {
		boothAddr = booth.DefaultListen
	}
	boothSrv := &http.Server{Addr: boothAddr, Handler: booth.Screen(b.booth, token), ReadHeaderTimeout: 5 * time.Second}
	go b.serve(ctx, boothSrv, "booth readout")
	defer boothSrv.Close()
	defer b.disconnect()
	for _, dc := range b.devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.supervise(ctx, dc)
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		b.publish(ctx)
	}()
	go func() {
		defer wg.Done()
		b.stateLoop(ctx)
	}()
	close(b.started)
	wg.Wait()
	return runResult(ctx)
}

// Started is closed once Run has opened the outbox and its listeners and
// started every device and the publisher: start-up work is over.
func (b *Box) Started() <-chan struct{} { return b.started }

// supervise runs one device, reopening it with backoff after each failure.
func (b *Box) supervise(ctx context.Context, dc device.Config) {
	drv := b.drivers[dc.ID]
	out := &output{box: b, dev: dc.ID, driver: drv.Name, routine: drv.Routine}
	dc.Actuation = out
	var rb reopenBackoff
	for ctx.Err() == nil {
		dev, err := drv.Build(dc)
		var ran time.Duration
		if err == nil {
			started := time.Now()
			err = dev.Run(ctx, out)
			ran = time.Since(started)
		}
		if ctx.Err() != nil {
			break
		}
		if err == nil {
			err = io.EOF
		}
		reason := device.ReasonOf(err)
		b.setAvailability(dc.ID, "down", reason, err.Error())
		wait, logIt := rb.next(ran, err.Error(), time.Now())
		if logIt {
			b.log.Warn("device stopped; reopening", "device", dc.ID, "reason", reason, "err", err, "retry_in", wait)
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	b.setAvailability(dc.ID, "down", device.Stopped, "edged stopping")
}

// output is what a device reports into.
type output struct {
	box     *Box
	dev     string
	driver  string
	routine func(reading.Reading) bool // the driver's Routine (nil: all protected)
}

// Emit stamps a reading and walks it down the box's line (line.go). It
// returns nil once the reading is in the outbox, and a *device.Lost naming
// the reason it was counted under when it is not.
func (o *output) Emit(r reading.Reading) error {
	b := o.box
	r.Crossing, r.Box, r.Device, r.Driver, r.Incarnation = b.cfg.Crossing, b.cfg.Box, o.dev, o.driver, b.inc
	r.Clock = b.clock()
	if r.Quality.Status == "" {
		r.Quality.Status = reading.OK
	}
	t := &taken{out: o, r: r, class: classify(r, o.routine)}
	for _, s := range b.stages {
		s(t)
	}
	return t.lost()
}

func (o *output) Up() { o.box.setAvailability(o.dev, "up", "", "") }

func (o *output) Down(reason device.Reason, detail string) {
	o.box.setAvailability(o.dev, "down", reason, detail)
}

func (o *output) Count(what string, n int) {
	b := o.box
	b.mu.Lock()
	if b.counters[o.dev] == nil {
		b.counters[o.dev] = map[string]int64{}
	}
	b.counters[o.dev][what] += int64(n)
	b.mu.Unlock()
	b.changed()
}

// invalid is a reading that fails its schema (or cannot be rendered).
type invalid struct{ err error }

func (e invalid) Error() string { return "invalid reading: " + e.err.Error() }

// where lists the places in the envelope that fail, without their values
// (a failing value may be personal data).
func (e invalid) where() string {
	var ve *jsonschema.ValidationError
	if !errors.As(e.err, &ve) {
		return "envelope"
	}
	var at []string
	var walk func(v *jsonschema.ValidationError)
	walk = func(v *jsonschema.ValidationError) {
		if len(v.Causes) == 0 && len(at) < 8 {
			at = append(at, "/"+strings.Join(v.InstanceLocation, "/"))
		}
		for _, c := range v.Causes {
			walk(c)
		}
	}
	walk(ve)
	return strings.Join(at, ",")
}

// changed asks the state loop to republish the retained state.
func (b *Box) changed() {
	select {
	case b.dirty <- struct{}{}:
	default:
	}
}

// stateInterval bounds how often counter changes republish the retained
// state: a noisy line must not turn into a stream of state messages.
const stateInterval = 2 * time.Second

// stateLoop republishes the retained state after counters or losses
// changed, at most once per stateInterval.
func (b *Box) stateLoop(ctx context.Context) {
	t := time.NewTicker(stateInterval)
	defer t.Stop()
	var last outbox.Stats
	pending := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.dirty:
			pending = true
		case <-t.C:
			if st := b.outbox.Stats(); st.Refused != last.Refused || st.Full != last.Full || fmt.Sprint(st.Dropped) != fmt.Sprint(last.Dropped) {
				last, pending = st, true
			}
			if pending {
				b.publishState()
				pending = false
			}
		}
	}
}

func (b *Box) setAvailability(dev, state string, reason device.Reason, detail string) {
	a := contract.DeviceAvailability{
		Schema: contract.AvailabilityV1, Box: b.cfg.Box, Device: dev, State: state,
		Reason: string(reason), Detail: detail, Time: time.Now().UTC(),
	}
	b.mu.Lock()
	prev, had := b.avail[dev]
	b.avail[dev] = a
	client := b.client
	b.mu.Unlock()
	b.booth.Availability(a)
	if had && prev.State == a.State && prev.Reason == a.Reason {
		return
	}
	if client != nil && client.IsConnected() {
		b.publishAvailability(client, a)
	}
}

func (b *Box) publishAvailability(c mqtt.Client, a contract.DeviceAvailability) {
	js, _ := json.Marshal(a)
	c.Publish(contract.Availability(b.cfg.Crossing, b.cfg.Box, a.Device), 1, true, js)
}

func (b *Box) state(s string) contract.State {
	st := contract.State{
		Schema: contract.StateV1, Crossing: b.cfg.Crossing, Box: b.cfg.Box, State: s,
		Time: time.Now().UTC(), Firmware: version.Version,
	}
	for i, d := range b.cfg.Devices {
		st.Devices = append(st.Devices, contract.InventoryItem{ID: b.devices[i].ID, Driver: d.Driver, Kind: b.drivers[b.devices[i].ID].Kind})
	}
	b.mu.Lock()
	ob := b.outbox
	b.mu.Unlock()
	if ob != nil {
		os := ob.Stats()
		st.Incarnation = os.Incarnation
		for k, v := range os.Dropped {
			if v == 0 {
				delete(os.Dropped, k)
			}
		}
		if os.Refused > 0 || os.Full || len(os.Dropped) > 0 {
			st.Loss = &contract.Loss{Dropped: os.Dropped, Refused: os.Refused, Full: os.Full}
		}
	}
	b.mu.Lock()
	for dev, m := range b.counters {
		if st.Counters == nil {
			st.Counters = map[string]map[string]int64{}
		}
		c := make(map[string]int64, len(m))
		for k, v := range m {
			c[k] = v
		}
		st.Counters[dev] = c
	}
	b.mu.Unlock()
	return st
}

// publishState republishes the retained online state (with any loss and
// the device counters) when connected; on the next connect it is published
// anyway.
func (b *Box) publishState() {
	b.mu.Lock()
	c := b.client
	b.mu.Unlock()
	if c == nil || !c.IsConnected() {
		return
	}
	st, _ := json.Marshal(b.state("online"))
	c.Publish(contract.BoxState(b.cfg.Crossing, b.cfg.Box), 1, true, st)
}

// httpHandler serves the technicians' endpoints: /healthz (open), and
// /status and /metrics for a technician's credentials or the box itself
// (web.go). The booth readout is not here: it has its own listener.
func (b *Box) httpHandler() http.Handler {
	mux := http.NewServeMux()
	tech := newTechnicians(b.cfg.Technicians)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /status", tech.protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(b.Status())
	})))
	mux.Handle("GET /metrics", tech.protect(b.metricsHandler()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		mux.ServeHTTP(w, r)
	})
}

// Status is a snapshot of the box for its status page and tests.
type Status struct {
	Crossing     string                                 `json:"crossing"`
	Box          string                                 `json:"box"`
	Firmware     string                                 `json:"firmware"`
	Connected    bool                                   `json:"connected"`
	OutboxBytes  int64                                  `json:"outbox_bytes"`
	Outbox       *outbox.Stats                          `json:"outbox,omitempty"` // depth and any loss
	LastSeq      map[string]uint64                      `json:"last_seq"`
	Availability map[string]contract.DeviceAvailability `json:"availability"`
	Counters     map[string]map[string]int64            `json:"counters"`
}

// Status returns the box's current state.
func (b *Box) Status() Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := Status{
		Crossing: b.cfg.Crossing, Box: b.cfg.Box, Firmware: version.Version,
		LastSeq: map[string]uint64{}, Availability: map[string]contract.DeviceAvailability{},
		Counters: map[string]map[string]int64{},
	}
	if b.client != nil {
		s.Connected = b.client.IsConnected()
	}
	if b.outbox != nil {
		st := b.outbox.Stats()
		s.OutboxBytes, s.Outbox = st.Bytes, &st
	}
	if b.outbox != nil {
		// The outbox holds each device's last sequence number (it assigns
		// them, and they survive restarts); the box keeps no copy.
		for _, d := range b.devices {
			if seq := b.outbox.LastSeq(d.ID); seq > 0 {
				s.LastSeq[d.ID] = seq
			}
		}
	}
	for k, v := range b.avail {
		s.Availability[k] = v
	}
	for k, m := range b.counters {
		c := map[string]int64{}
		for n, v := range m {
			c[n] = v
		}
		s.Counters[k] = c
	}
	return s
}
