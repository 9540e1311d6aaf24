package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/bcrypt"

	"github.com/kordon/kordon/drivers"
	"github.com/kordon/kordon/drivers/all"
	"github.com/kordon/kordon/edge"
	"github.com/kordon/kordon/hub"
	"github.com/kordon/kordon/hub/dash"
	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/logging"
	"github.com/kordon/kordon/internal/schema"
)

const crossing = "kz-test"

func hash(t *testing.T, pw string) string {
	t.Helper()
	// MinCost keeps tests fast; production hashes use DefaultCost.
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// startHub runs a real hub on loopback with the given box passwords and an
// observer "watch"/"watchpw".
func startHub(t *testing.T, boxes map[string]string) *hub.Hub {
	t.Helper()
	cfg := &hub.Config{Crossing: crossing, MQTT: "127.0.0.1:0", HTTP: "127.0.0.1:0", DataDir: t.TempDir(),
		Observers: []hub.Observer{{User: "watch", PasswordHash: hash(t, "watchpw")}},
		Users:     []dash.User{{User: "sup", Role: dash.RoleSupervisor, PasswordHash: hash(t, "suppw")}}}
	for b, pw := range boxes {
		cfg.Boxes = append(cfg.Boxes, hub.BoxCreds{Box: b, PasswordHash: hash(t, pw)})
	}
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

// replayDevice opens a pty and plays a trace into it once the returned
// start function is called (after edged has opened the port).
func replayDevice(t *testing.T, tracePath string, loop bool) (path string, start func(ctx context.Context)) {
	t.Helper()
	tr, err := trace.ReadFile(tracePath)
	if err != nil {
		t.Fatal(err)
	}
	p, err := replay.OpenPTY(filepath.Join(t.TempDir(), "tty"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p.Path, func(ctx context.Context) {
		go replay.Serial(ctx, tr, p.Device, replay.Options{Speed: 0, Loop: loop})
	}
}

// startBox runs a real edged in-process with one mrz reader on devPath.
func startBox(t *testing.T, ctx context.Context, brokerURL, box, password, devPath string) *edge.Box {
	t.Helper()
	src := fmt.Sprintf(`
crossing: %s
box: %s
state_dir: %s
hub: {address: %q, username: %s, password: %s}
devices:
  - id: reader1
    driver: mrz
    transport: {type: serial, path: %s, baud: 9600}
    options: {framing: line}
`, crossing, box, t.TempDir(), brokerURL, box, password, devPath)
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
	return b
}

// recorder subscribes to topics and keeps every message it sees.
type recorder struct {
	mu   sync.Mutex
	msgs map[string][][]byte
	seen chan string // topic of each message, for waiting on events
}

func newRecorder() *recorder {
	return &recorder{msgs: map[string][][]byte{}, seen: make(chan string, 1024)}
}

func (r *recorder) handle(_ mqtt.Client, m mqtt.Message) {
	r.mu.Lock()
	r.msgs[m.Topic()] = append(r.msgs[m.Topic()], append([]byte(nil), m.Payload()...))
	r.mu.Unlock()
	select {
	case r.seen <- m.Topic():
	default:
	}
}

func (r *recorder) all() map[string][][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][][]byte{}
	for k, v := range r.msgs {
		out[k] = append([][]byte(nil), v...)
	}
	return out
}

// waitTopic blocks until a message on topic has arrived and returns the first.
func (r *recorder) waitTopic(t *testing.T, topic string, within time.Duration) []byte {
	t.Helper()
	return r.waitCount(t, topic, 1, within)[0]
}

// waitCount blocks until n messages on topic have arrived.
func (r *recorder) waitCount(t *testing.T, topic string, n int, within time.Duration) [][]byte {
	t.Helper()
	return r.waitMatch(t, topic, within, func(m [][]byte) bool { return len(m) >= n })
}

// waitMatch blocks until the messages on topic satisfy ok. It wakes on each
// arriving message: no polling, no sleeps.
func (r *recorder) waitMatch(t *testing.T, topic string, within time.Duration, ok func([][]byte) bool) [][]byte {
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

// deviceUp waits until a device's retained availability says up.
func (r *recorder) deviceUp(t *testing.T, box, device string) {
	t.Helper()
	r.waitMatch(t, contract.Availability(crossing, box, device), 10*time.Second, func(m [][]byte) bool {
		return len(m) > 0 && decode[contract.DeviceAvailability](t, m[len(m)-1]).State == "up"
	})
}

// subscribe connects a paho client and records every message under filter.
func subscribe(t *testing.T, brokerURL, user, pw, filter string) *recorder {
	t.Helper()
	rec := newRecorder()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID("rec-" + t.Name() + filter).
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

func validator(t *testing.T) *schema.Validator {
	t.Helper()
	v, err := schema.New(drivers.PayloadSchemas())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// validateAll checks every recorded message against its JSON Schema.
func validateAll(t *testing.T, rec *recorder) int {
	t.Helper()
	v := validator(t)
	n := 0
	for topic, msgs := range rec.all() {
		for _, m := range msgs {
			n++
			// An observer receives readings with their personal fields
			// withheld ("[personal]", docs/mqtt.md): those no longer match
			// the payload schema, which the hub checked before storing.
			if strings.HasSuffix(topic, "/readings") && bytes.Contains(m, []byte(`"[personal]"`)) {
				continue
			}
			if err := v.Validate(m); err != nil {
				t.Errorf("%s: message does not validate: %v", topic, err)
			}
		}
	}
	return n
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// dashClient is a supervisor logged in to the BLO dashboard: the command
// API is served only behind that session (and its CSRF token).
type dashClient struct {
	http *http.Client
	base string
	csrf string
}

func loginSupervisor(t *testing.T, h *hub.Hub) *dashClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &dashClient{http: &http.Client{Jar: jar}, base: "http://" + h.HTTPAddr()}
	resp, err := dash.PostLogin(c.http, c.base, "sup", "suppw")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = c.http.Get(c.base + "/dash/api/me")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var me struct{ CSRF string }
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&me) != nil {
		t.Fatalf("supervisor log-in: %s", resp.Status)
	}
	c.csrf = me.CSRF
	return c
}

func (c *dashClient) do(t *testing.T, method, path, body string) []byte {
	t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", c.csrf)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
	}
	return b
}
