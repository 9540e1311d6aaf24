// Package stationtest runs a real station in-process on loopback for tests:
// a hub (mochi broker, SQLite, the default rules), edge boxes running the
// registered drivers, devices fed from recorded traces through
// pseudo-terminals, and an observer that records what the hub published.
//
// It imports edge, hub and drivers/all, so only test files may use it; a
// driver family's end-to-end test lives in an external test package
// (package foo_test) to prove its readings and alerts reach the hub
// without touching edge/ or hub/.
package stationtest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/bcrypt"

	"github.com/kordon/kordon/drivers/all"
	"github.com/kordon/kordon/edge"
	"github.com/kordon/kordon/hub"
	"github.com/kordon/kordon/hub/dash"
	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/gpioline/gpiolinetest"
	"github.com/kordon/kordon/internal/logging"
)

// Crossing is the crossing id of every station the kit starts.
const Crossing = "kz-test"

// The observer and the dashboard supervisor of every hub the kit starts.
const (
	Watcher            = "watch"
	WatcherPassword    = "watchpw"
	Supervisor         = "sup"
	SupervisorPassword = "suppw"
)

// Hash is a password hash as a hub config holds it. MinCost keeps tests
// fast; production hashes use bcrypt's default cost.
func Hash(t testing.TB, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// HubConfig is the config StartHub runs: loopback ports chosen by the
// system, a fresh data folder, the boxes (box id → password), the observer
// and the supervisor. Tests that need more edit it and call RunHub.
func HubConfig(t testing.TB, boxes map[string]string) *hub.Config {
	t.Helper()
	cfg := &hub.Config{Crossing: Crossing, MQTT: "127.0.0.1:0", HTTP: "127.0.0.1:0", DataDir: t.TempDir(),
		Observers: []hub.Observer{{User: Watcher, PasswordHash: Hash(t, WatcherPassword)}},
		Users:     []dash.User{{User: Supervisor, Role: dash.RoleSupervisor, PasswordHash: Hash(t, SupervisorPassword)}}}
	for b, pw := range boxes {
		cfg.Boxes = append(cfg.Boxes, hub.BoxCreds{Box: b, PasswordHash: Hash(t, pw)})
	}
	return cfg
}

// Hub is a running hub that a test may stop before its end (the hub gone
// from under a box); it is stopped at the end otherwise.
type Hub struct {
	*hub.Hub
	once sync.Once
}

// Stop closes the hub, once.
func (h *Hub) Stop() { h.once.Do(func() { h.Hub.Close() }) }

// StartHub runs a real hub with HubConfig until the test ends.
func StartHub(t testing.TB, boxes map[string]string) *Hub {
	t.Helper()
	return RunHub(t, HubConfig(t, boxes), nil)
}

// RunHub runs a real hub on cfg until the test ends; log nil discards.
func RunHub(t testing.TB, cfg *hub.Config, log *slog.Logger) *Hub {
	t.Helper()
	if log == nil {
		log = logging.Discard()
	}
	h, err := hub.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	rh := &Hub{Hub: h}
	t.Cleanup(rh.Stop)
	return rh
}

// Box is one edge box to run in-process with the registered drivers.
type Box struct {
	ID       string
	Password string
	Broker   string // the hub's MQTT address, "tcp://host:port"
	// Devices is the YAML list of its devices, indented as under `devices:`.
	Devices string
	// Extra is more top-level YAML of the box config (http:, booth:).
	Extra string
	// StateDir is the box's disk; empty: a fresh folder. Restart tests run
	// a second box on the first one's folder.
	StateDir string
	// Pins are the fake GPIO lines its devices open; nil: none.
	Pins *gpiolinetest.Lines
	Log  *slog.Logger // nil discards
}

// Broker is where boxes and observers connect: a *hub.Hub or a *Hub.
type Broker interface{ MQTTAddr() string }

// BoxFor is a box that logs in to h with password pw.
func BoxFor(h Broker, id, pw, devices string) Box {
	return Box{ID: id, Password: pw, Broker: "tcp://" + h.MQTTAddr(), Devices: devices}
}

// StartBox runs BoxFor(h, id, pw, devices) until the test ends.
func StartBox(t testing.TB, ctx context.Context, h Broker, id, pw, devices string) *edge.Box {
	t.Helper()
	return BoxFor(h, id, pw, devices).Start(t, ctx)
}

// Source is the box's config file.
func (b Box) Source(t testing.TB) string {
	if b.StateDir == "" {
		b.StateDir = t.TempDir()
	}
	return fmt.Sprintf("crossing: %s\nbox: %s\nstate_dir: %s\nhub: {address: %q, username: %s, password: %s}\n%s\ndevices:\n%s",
		Crossing, b.ID, b.StateDir, b.Broker, b.ID, b.Password, b.Extra, b.Devices)
}

// Start runs the box until the test ends.
func (b Box) Start(t testing.TB, ctx context.Context) *edge.Box {
	t.Helper()
	box, _ := b.Run(t, ctx)
	return box
}

// Run runs the box until stop (or the test's end); stop returns once
// edged has stopped, so another box may start on the same StateDir.
func (b Box) Run(t testing.TB, ctx context.Context) (box *edge.Box, stop func()) {
	t.Helper()
	src := b.Source(t)
	cfg, devs, err := edge.ParseConfig("box.yaml", []byte(src), all.Drivers())
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	if b.Pins != nil {
		for i := range devs {
			if k, _ := device.PortOf(devs[i].Transport.Type); k == device.Pin {
				devs[i].Pin = b.Pins.Open // instead of periph.io's lines
			}
		}
	}
	log := b.Log
	if log == nil {
		log = logging.Discard()
	}
	box, err = edge.New(cfg, devs, all.Drivers(), log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); box.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return box, stop
}

// Device is a serial device on a pseudo-terminal, fed from a trace.
type Device struct {
	Path  string // the pty a box's transport opens
	t     testing.TB
	pty   *replay.PTY
	tr    *trace.Trace
	close sync.Once
}

// TraceDevice opens a pty for the trace at tracePath; Play starts it.
func TraceDevice(t testing.TB, tracePath string) *Device {
	t.Helper()
	tr, err := trace.ReadFile(tracePath)
	if err != nil {
		t.Fatal(err)
	}
	return NewDevice(t, tr)
}

// NewDevice opens a pty for tr (a trace read, or made by the test).
func NewDevice(t testing.TB, tr *trace.Trace) *Device {
	t.Helper()
	p, err := replay.OpenPTY(filepath.Join(t.TempDir(), "tty"))
	if err != nil {
		t.Fatal(err)
	}
	d := &Device{Path: p.Path, t: t, pty: p, tr: tr}
	t.Cleanup(d.unplug)
	return d
}

func (d *Device) unplug() { d.close.Do(func() { d.pty.Close() }) }

// Play plays the trace into the pty in the background (the zero Options:
// once, as fast as ordering allows). A failed replay fails the test. Call
// it once the box has opened the port (DeviceUp), or know that the pty
// keeps what is written until then.
func (d *Device) Play(ctx context.Context, o replay.Options) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := replay.Serial(ctx, d.tr, d.pty.Device, o); err != nil && ctx.Err() == nil {
			d.t.Errorf("replaying into %s: %v", d.Path, err)
		}
	}()
	// At the test's end: stop, unplug (a write blocked on a full pty
	// returns), and wait, so nothing reports after the test.
	d.t.Cleanup(func() { cancel(); d.unplug(); <-done })
}

// TraceStation is the usual shape of a driver family's end-to-end test: a
// hub, its observer, and one box with one serial device fed from a trace.
type TraceStation struct {
	Box     string // box id; its password is "pw-" + Box
	Device  string // device id
	Driver  string // registered driver name
	Options string // the device's options, YAML flow style; "" none
	Trace   string // path of the trace the device plays
}

// Station is a running TraceStation.
type Station struct {
	Hub *Hub
	Rec *Recorder
	Box *edge.Box
	Dev *Device
	cfg TraceStation
}

// Start runs the station and returns once the device is up at the hub;
// the trace has not played yet (Dev.Play).
func (ts TraceStation) Start(t testing.TB, ctx context.Context) *Station {
	t.Helper()
	pw := "pw-" + ts.Box
	h := StartHub(t, map[string]string{ts.Box: pw})
	s := &Station{Hub: h, Rec: Subscribe(t, h), Dev: TraceDevice(t, ts.Trace), cfg: ts}
	devices := fmt.Sprintf("  - id: %s\n    driver: %s\n    transport: {type: serial, path: %s, baud: 9600}\n", ts.Device, ts.Driver, s.Dev.Path)
	if ts.Options != "" {
		devices += "    options: " + ts.Options + "\n"
	}
	s.Box = StartBox(t, ctx, h, ts.Box, pw, devices)
	s.Rec.DeviceUp(t, ts.Box, ts.Device)
	return s
}

// Readings waits until exactly n readings of the device are at the hub.
func (s *Station) Readings(t testing.TB, n int, within time.Duration) [][]byte {
	t.Helper()
	return s.Rec.Readings(t, s.cfg.Box, s.cfg.Device, n, within)
}

// Recorder keeps every MQTT message it is subscribed to, by topic, and
// wakes every waiter on each one: tests wait on messages, not sleeps.
type Recorder struct {
	mu      sync.Mutex
	msgs    map[string][][]byte
	changed chan struct{} // closed and replaced on each message
}

// Subscribe records every message of the crossing as the observer sees it.
func Subscribe(t testing.TB, h Broker) *Recorder {
	t.Helper()
	return SubscribeAs(t, "tcp://"+h.MQTTAddr(), Watcher, WatcherPassword, contract.Prefix+"/"+Crossing+"/#")
}

// SubscribeAs connects as user and records every message under filter.
func SubscribeAs(t testing.TB, broker, user, pw, filter string) *Recorder {
	t.Helper()
	rec := &Recorder{msgs: map[string][][]byte{}, changed: make(chan struct{})}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("rec-" + t.Name() + filter).
		SetUsername(user).SetPassword(pw))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("recorder connect: %v", tok.Error())
	}
	if tok := c.Subscribe(filter, 1, rec.handle); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("recorder subscribe: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return rec
}

func (r *Recorder) handle(_ mqtt.Client, m mqtt.Message) {
	r.mu.Lock()
	r.msgs[m.Topic()] = append(r.msgs[m.Topic()], append([]byte(nil), m.Payload()...))
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// All is a copy of every message so far, by topic.
func (r *Recorder) All() map[string][][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][][]byte, len(r.msgs))
	for k, v := range r.msgs {
		out[k] = append([][]byte(nil), v...)
	}
	return out
}

// Next is closed when the next message arrives, for tests that wait on
// something else (a database, an API) and wake on whatever is published.
func (r *Recorder) Next() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// Topic is a copy of the messages on topic so far.
func (r *Recorder) Topic(topic string) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.msgs[topic]...)
}

// Wait blocks until the messages on topic satisfy ok and returns them.
func (r *Recorder) Wait(t testing.TB, topic string, within time.Duration, ok func([][]byte) bool) [][]byte {
	t.Helper()
	timeout := time.After(within)
	for {
		r.mu.Lock()
		m := append([][]byte(nil), r.msgs[topic]...)
		changed := r.changed
		r.mu.Unlock()
		if ok(m) {
			return m
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("messages on %s did not arrive within %v (have %d)", topic, within, len(m))
		}
	}
}

// WaitCount blocks until at least n messages are on topic.
func (r *Recorder) WaitCount(t testing.TB, topic string, n int, within time.Duration) [][]byte {
	t.Helper()
	return r.Wait(t, topic, within, func(m [][]byte) bool { return len(m) >= n })
}

// First blocks until a message is on topic and returns the first.
func (r *Recorder) First(t testing.TB, topic string, within time.Duration) []byte {
	t.Helper()
	return r.WaitCount(t, topic, 1, within)[0]
}

// DeviceUp waits until a device's retained availability says up.
func (r *Recorder) DeviceUp(t testing.TB, box, device string) {
	t.Helper()
	r.Wait(t, contract.Availability(Crossing, box, device), 20*time.Second, func(m [][]byte) bool {
		if len(m) == 0 {
			return false
		}
		var a contract.DeviceAvailability
		return json.Unmarshal(m[len(m)-1], &a) == nil && a.State == "up"
	})
}

// Readings waits until exactly n readings of box/device are at the hub.
func (r *Recorder) Readings(t testing.TB, box, device string, n int, within time.Duration) [][]byte {
	t.Helper()
	return r.Wait(t, contract.Readings(Crossing, box, device), within, func(m [][]byte) bool { return len(m) == n })
}

// Alerts waits for n alerts and decodes them.
func (r *Recorder) Alerts(t testing.TB, n int, within time.Duration) []contract.Alert {
	t.Helper()
	msgs := r.WaitCount(t, contract.Alerts(Crossing), n, within)
	out := make([]contract.Alert, len(msgs))
	for i, m := range msgs {
		if err := json.Unmarshal(m, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
