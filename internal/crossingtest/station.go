// Package crossingtest runs a real hub and edged in-process on loopback for
// drivers' end-to-end tests: a family proves its readings and alerts reach
// the hub without touching edge/ or hub/. It imports drivers/all, so only
// external test packages (package foo_test) may use it.
package crossingtest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/bcrypt"

	"github.com/kordon/kordon/drivers/all"
	"github.com/kordon/kordon/edge"
	"github.com/kordon/kordon/hub"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/logging"
)

// Crossing is the crossing id of the in-process station.
const Crossing = "kz-test"

// StartHub runs a real hub (mochi broker, SQLite, rules) on loopback with
// one box and an observer "watch"/"watchpw". (Pattern of e2e/helpers_test.go.)
func StartHub(t *testing.T, box, pw string) *hub.Hub {
	t.Helper()
	hash := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	cfg := &hub.Config{Crossing: Crossing, MQTT: "127.0.0.1:0", HTTP: "127.0.0.1:0", DataDir: t.TempDir(),
		Observers: []hub.Observer{{User: "watch", PasswordHash: hash("watchpw")}},
		Boxes:     []hub.BoxCreds{{Box: box, PasswordHash: hash(pw)}}}
	h, err := hub.New(cfg, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// StartBox runs a real edged in-process; devices is the YAML list of its
// devices (indented as under `devices:`).
func StartBox(t *testing.T, ctx context.Context, h *hub.Hub, box, pw, devices string) {
	t.Helper()
	src := fmt.Sprintf("crossing: %s\nbox: %s\nstate_dir: %s\nhub: {address: %q, username: %s, password: %s}\ndevices:\n%s",
		Crossing, box, t.TempDir(), "tcp://"+h.MQTTAddr(), box, pw, devices)
	cfg, devs, err := edge.ParseConfig("test.yaml", []byte(src), all.Drivers())
	if err != nil {
		t.Fatal(err)
	}
	b, err := edge.New(cfg, devs, all.Drivers(), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(done)
		b.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// Recorder keeps every MQTT message seen under a filter.
type Recorder struct {
	mu   sync.Mutex
	msgs map[string][][]byte
	seen chan struct{}
}

// Subscribe connects an observer and records every message of the crossing.
func Subscribe(t *testing.T, h *hub.Hub) *Recorder {
	t.Helper()
	rec := &Recorder{msgs: map[string][][]byte{}, seen: make(chan struct{}, 1)}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + h.MQTTAddr()).SetClientID("rec-" + t.Name()).
		SetUsername("watch").SetPassword("watchpw"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("recorder connect: %v", tok.Error())
	}
	handle := func(_ mqtt.Client, m mqtt.Message) {
		rec.mu.Lock()
		rec.msgs[m.Topic()] = append(rec.msgs[m.Topic()], append([]byte(nil), m.Payload()...))
		rec.mu.Unlock()
		select {
		case rec.seen <- struct{}{}:
		default:
		}
	}
	if tok := c.Subscribe(contract.Prefix+"/"+Crossing+"/#", 1, handle); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("recorder subscribe: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return rec
}

// Wait blocks until the messages on topic satisfy ok, waking on each
// message, and returns them.
func (r *Recorder) Wait(t *testing.T, topic string, within time.Duration, ok func([][]byte) bool) [][]byte {
	t.Helper()
	timeout := time.After(within)
	for {
		r.mu.Lock()
		m := append([][]byte(nil), r.msgs[topic]...)
		r.mu.Unlock()
		if ok(m) {
			return m
		}
		select {
		case <-r.seen:
		case <-timeout:
			t.Fatalf("messages on %s did not arrive within %v (have %d)", topic, within, len(m))
		}
	}
}

// DeviceUp waits until a device's retained availability says up.
func (r *Recorder) DeviceUp(t *testing.T, box, device string) {
	t.Helper()
	r.Wait(t, contract.Availability(Crossing, box, device), 20*time.Second, func(m [][]byte) bool {
		if len(m) == 0 {
			return false
		}
		var a contract.DeviceAvailability
		return json.Unmarshal(m[len(m)-1], &a) == nil && a.State == "up"
	})
}

// Alerts waits for n alerts and decodes them.
func (r *Recorder) Alerts(t *testing.T, n int, within time.Duration) []contract.Alert {
	t.Helper()
	msgs := r.Wait(t, contract.Alerts(Crossing), within, func(m [][]byte) bool { return len(m) >= n })
	out := make([]contract.Alert, len(msgs))
	for i, m := range msgs {
		if err := json.Unmarshal(m, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
