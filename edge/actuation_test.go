package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"periph.io/x/conn/v3/gpio"

	"github.com/kordon/kordon/drivers/all"
	"github.com/kordon/kordon/internal/actuator"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/gpioline/gpiolinetest"
	"github.com/kordon/kordon/internal/logging"
	"github.com/kordon/kordon/internal/reading"
)

// broker is a bare mochi broker on loopback, standing in for the hub: its
// inline client publishes commands as the hub's does. (The hub's ACL is
// tested with the real hub in e2e.)
type broker struct {
	srv     *mochi.Server
	addr    string
	mu      sync.Mutex
	replies []contract.Reply
	got     chan struct{}
}

func startBroker(t testing.TB) *broker {
	t.Helper()
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: logging.Discard()})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := srv.AddListener(tcp); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	br := &broker{srv: srv, addr: "tcp://" + tcp.Address(), got: make(chan struct{}, 1)}
	err := srv.Subscribe(contract.AllReplies("kz-test"), 1, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
		var r contract.Reply
		if err := json.Unmarshal(pk.Payload, &r); err != nil {
			t.Errorf("reply: %v", err)
		}
		br.mu.Lock()
		br.replies = append(br.replies, r)
		br.mu.Unlock()
		select {
		case br.got <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return br
}

// command publishes a command to booth-1 and waits for its reply.
func (br *broker) command(t testing.TB, cmd contract.Command) contract.Reply {
	t.Helper()
	cmd.Schema = contract.CommandV1
	js, _ := json.Marshal(cmd)
	br.mu.Lock()
	n := len(br.replies)
	br.mu.Unlock()
	if err := br.srv.Publish(contract.Commands("kz-test", "booth-1"), js, false, 1); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for {
		br.mu.Lock()
		if len(br.replies) > n {
			r := br.replies[n]
			br.mu.Unlock()
			return r
		}
		br.mu.Unlock()
		select {
		case <-br.got:
		case <-timeout:
			t.Fatalf("no reply to %s", cmd.ID)
		}
	}
}

type testBox struct {
	*Box
	pins *gpiolinetest.Lines
	done chan error
	stop context.CancelFunc
}

const boxConfig = `crossing: kz-test
box: booth-1
state_dir: %s
hub: {address: %q, username: booth-1, password: pw}
devices:
  - id: cctv1
    driver: cctv
    transport: {type: gpio}
    options:
      line: GPIO17
      mode: %s
      pulse: 20ms
      min_gap: 0s
      on: [{name: scanner-alarm, when: 'kind == "scanner_event" && payload.alarm'}]
`

// runBox writes a box config file, loads it as edged does and runs the box
// with fake GPIO lines. It returns once the box is connected (if hub is
// reachable) and the CCTV output is attached.
func runBox(t testing.TB, stateDir, hubAddr, mode string, waitConnected bool) *testBox {
	t.Helper()
	path := filepath.Join(t.TempDir(), "edged.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(boxConfig, stateDir, hubAddr, mode)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, devs, err := LoadConfig(path, all.Drivers())
	if err != nil {
		t.Fatal(err)
	}
	pins := gpiolinetest.New("GPIO17")
	for i := range devs {
		devs[i].Pin = pins.Open
	}
	b, err := New(cfg, devs, all.Drivers(), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb := &testBox{Box: b, pins: pins, done: make(chan error, 1), stop: cancel}
	go func() { tb.done <- b.Run(ctx) }()
	t.Cleanup(func() { tb.shutdown(t) })
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if _, err := pins.Pin("GPIO17").WaitOuts(wctx, 1); err != nil { // the output set its rest level
		t.Fatal(err)
	}
	if err := b.act.engine.WaitAttached(wctx, "cctv1"); err != nil {
		t.Fatal(err)
	}
	if waitConnected {
		b.mu.Lock()
		conn := b.conn
		b.mu.Unlock()
		select {
		case <-conn:
		case <-wctx.Done():
			t.Fatal("box did not connect")
		}
	}
	return tb
}

func (tb *testBox) shutdown(t testing.TB) error {
	tb.stop()
	select {
	case err, ok := <-tb.done:
		if ok {
			close(tb.done)
		}
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("box did not stop")
	}
	return nil
}

func levels(cs []gpiolinetest.Change) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.Level.String())
	}
	return strings.Join(s, ",")
}

func soon() time.Time { return time.Now().Add(time.Minute) }

// TestDuplicateCommandActsOnce: a command delivered again after it ran
// (and after a release) gets its first reply, marked duplicate, and does
// not drive the line again.
func TestDuplicateCommandActsOnce(t *testing.T) {
	br := startBroker(t)
	b := runBox(t, t.TempDir(), br.addr, "latch", true)
	trig := contract.Command{ID: "c-1", Name: "cctv-trigger", Expires: soon()}
	first := br.command(t, trig)
	if !first.OK || first.Result["action"] != "activated" || first.Result["device"] != "cctv1" {
		t.Fatalf("first delivery: %+v", first)
	}
	if r := br.command(t, contract.Command{ID: "c-2", Name: "cctv-release", Expires: soon()}); !r.OK || r.Result["action"] != "released" {
		t.Fatalf("release: %+v", r)
	}
	again := br.command(t, trig)
	if !again.OK || again.Result["duplicate"] != "true" || again.Result["action"] != "activated" || again.ID != "c-1" {
		t.Errorf("second delivery: %+v, want the first reply marked duplicate", again)
	}
	// Commands act before they reply: had the repeat acted, the line would show it now.
	if got := levels(b.pins.Pin("GPIO17").Outs()); got != "Low,High,Low" {
		t.Errorf("line driven %s, want Low,High,Low (rest, trigger, release)", got)
	}
	if n := b.Status().Counters["_commands"]["duplicate"]; n != 1 {
		t.Errorf("duplicate counter = %d", n)
	}
}

// TestDuplicateAfterRestartActsOnce: the command log in state_dir keeps a
// restarted box from acting on a redelivered command.
func TestDuplicateAfterRestartActsOnce(t *testing.T) {
	br := startBroker(t)
	state := t.TempDir()
	b1 := runBox(t, state, br.addr, "pulse", true)
	trig := contract.Command{ID: "before-restart", Name: "cctv-trigger", Expires: soon()}
	if r := br.command(t, trig); !r.OK {
		t.Fatalf("first delivery: %+v", r)
	}
	if err := b1.shutdown(t); err != nil {
		t.Fatal(err)
	}
	b2 := runBox(t, state, br.addr, "pulse", true)
	again := br.command(t, trig)
	if again.Result["duplicate"] != "true" || !again.OK {
		t.Errorf("after restart: %+v, want duplicate", again)
	}
	if got := levels(b2.pins.Pin("GPIO17").Outs()); got != "Low" {
		t.Errorf("restarted box drove %s, want only its rest level", got)
	}
}

// TestExpiredAndMalformedCommandsRefused: nothing acts, each is answered
// with why, and each is counted.
func TestExpiredAndMalformedCommandsRefused(t *testing.T) {
	br := startBroker(t)
	b := runBox(t, t.TempDir(), br.addr, "pulse", true)
	r := br.command(t, contract.Command{ID: "late", Name: "cctv-trigger", Expires: time.Now().Add(-time.Second)})
	if r.OK || r.Error != "expired" || r.ID != "late" {
		t.Errorf("expired: %+v", r)
	}
	r = br.command(t, contract.Command{ID: "far", Name: "cctv-trigger", Expires: time.Now().Add(48 * time.Hour)})
	if r.OK || !strings.Contains(r.Error, "expiry more than") {
		t.Errorf("far expiry: %+v", r)
	}
	r = br.command(t, contract.Command{ID: "never", Name: "cctv-trigger"})
	if r.OK || r.Error != "malformed command: no expiry" {
		t.Errorf("no expiry: %+v", r)
	}
	r = br.command(t, contract.Command{ID: "u1", Name: "self-destruct", Expires: soon()})
	if r.OK || r.Error != "unknown command" {
		t.Errorf("unknown: %+v", r)
	}
	r = br.command(t, contract.Command{ID: "d1", Name: "cctv-trigger", Args: map[string]string{"device": "cctv9"}, Expires: soon()})
	if r.OK || !strings.Contains(r.Error, `no actuator "cctv9"`) {
		t.Errorf("unknown device: %+v", r)
	}
	// The expired id was not remembered: the same id, unexpired, acts.
	if r := br.command(t, contract.Command{ID: "late", Name: "cctv-trigger", Expires: soon()}); !r.OK || r.Result["duplicate"] != "" {
		t.Errorf("fresh command with a refused id: %+v", r)
	}
	c := b.Status().Counters["_commands"]
	if c["expired"] != 1 || c["malformed"] != 1 {
		t.Errorf("counters = %v", c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	outs, err := b.pins.Pin("GPIO17").WaitOuts(ctx, 3)
	if err != nil || levels(outs) != "Low,High,Low" {
		t.Errorf("line driven %s (%v), want one pulse, from the last command only", levels(outs), err)
	}
}

// TestReloadConfig: an invalid file on disk is refused with its line and
// the box carries on; a valid one ends Run with ErrReload after the reply.
func TestReloadConfig(t *testing.T) {
	br := startBroker(t)
	b := runBox(t, t.TempDir(), br.addr, "pulse", true)
	path := b.cfg.file
	good, _ := os.ReadFile(path)
	if err := os.WriteFile(path, []byte(strings.Replace(string(good), "mode: pulse", "mode: blink", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := br.command(t, contract.Command{ID: "r1", Name: "reload-config", Expires: soon()})
	if r.OK || !strings.Contains(r.Error, "edged.yaml:11: devices[0].options.mode: must be pulse or latch") {
		t.Errorf("invalid config: %+v", r)
	}
	select {
	case err := <-b.done:
		t.Fatalf("box stopped on an invalid config: %v", err)
	default:
	}
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	r = br.command(t, contract.Command{ID: "r2", Name: "reload-config", Expires: soon()})
	if !r.OK || r.Result["devices"] != "1" {
		t.Errorf("valid config: %+v", r)
	}
	select {
	case err := <-b.done:
		close(b.done)
		if !errors.Is(err, ErrReload) {
			t.Errorf("Run = %v, want ErrReload", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end after reload-config")
	}
}

type scannerEvent struct {
	Alarm bool   `json:"alarm"`
	Lane  string `json:"lane"`
}

func (scannerEvent) Kind() string { return "scanner_event" }

// TestLocalRuleWithoutHub: with no hub at all, a matching reading taken by
// the box pulses the line and the pulse is in the outbox as readings.
func TestLocalRuleWithoutHub(t *testing.T) {
	b := runBox(t, t.TempDir(), "tcp://127.0.0.1:1", "pulse", false)
	o := &output{box: b.Box, dev: "xray1", driver: "scanner-lines"}
	o.Emit(reading.Reading{Origin: time.Now(), Payload: scannerEvent{Alarm: false}})
	o.Emit(reading.Reading{Origin: time.Now(), Payload: scannerEvent{Alarm: true, Lane: "L2"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	outs, err := b.pins.Pin("GPIO17").WaitOuts(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if levels(outs) != "Low,High,Low" {
		t.Errorf("line driven %s", levels(outs))
	}
	if err := b.shutdown(t); err != nil {
		t.Fatal(err)
	}
	// start, activate, pulse-end: all three kept for the hub.
	if got := b.Status().LastSeq["cctv1"]; got != 3 {
		t.Errorf("cctv1 readings taken = %d, want 3", got)
	}
	if c := b.Status().Counters["cctv1"]["triggers_activated"]; c != 1 {
		t.Errorf("counters %v", b.Status().Counters["cctv1"])
	}
}

// BenchmarkAlarmToPulse measures the whole box path: Emit of an alarm
// reading (stamp, outbox append with fsync, rules) to the CCTV line's
// active edge on the fake pin.
func BenchmarkAlarmToPulse(b *testing.B) {
	tb := runBox(b, b.TempDir(), "tcp://127.0.0.1:1", "latch", false)
	pin := tb.pins.Pin("GPIO17")
	o := &output{box: tb.Box, dev: "xray1", driver: "scanner-lines"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var total time.Duration
	n := 1
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		o.Emit(reading.Reading{Origin: t0, Payload: scannerEvent{Alarm: true}})
		outs, err := pin.WaitOuts(ctx, n+1)
		if err != nil {
			b.Fatal(err)
		}
		if outs[n].Level != gpio.High {
			b.Fatalf("edge %d is %v", n, outs[n].Level)
		}
		total += outs[n].At.Sub(t0)
		if _, err := tb.act.engine.Fire("cctv1", actuator.Request{Action: "release"}); err != nil {
			b.Fatal(err)
		}
		n += 2
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/alarm-to-edge")
}
