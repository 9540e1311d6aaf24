package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"github.com/kordon/kordon/drivers"
	"github.com/kordon/kordon/e2e/stationtest"
	"github.com/kordon/kordon/edge"
	"github.com/kordon/kordon/hub/dash"
	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/internal/schema"
)

const crossing = stationtest.Crossing

func hash(t *testing.T, pw string) string { return stationtest.Hash(t, pw) }

// startHub runs a real hub on loopback with the given box passwords, the
// kit's observer and supervisor.
func startHub(t *testing.T, boxes map[string]string) *stationtest.Hub {
	return stationtest.StartHub(t, boxes)
}

// replayDevice opens a pty and plays a trace into it once the returned
// start function is called (after edged has opened the port).
func replayDevice(t *testing.T, tracePath string, loop bool) (path string, start func(ctx context.Context)) {
	t.Helper()
	d := stationtest.TraceDevice(t, tracePath)
	return d.Path, func(ctx context.Context) { d.Play(ctx, replay.Options{Loop: loop}) }
}

// startBox runs a real edged in-process with one mrz reader on devPath.
func startBox(t *testing.T, ctx context.Context, brokerURL, box, password, devPath string) *edge.Box {
	t.Helper()
	return stationtest.Box{ID: box, Password: password, Broker: brokerURL, Devices: fmt.Sprintf(`
  - id: reader1
    driver: mrz
    transport: {type: serial, path: %s, baud: 9600}
    options: {framing: line}
`, devPath)}.Start(t, ctx)
}

// subscribe connects a paho client and records every message under filter.
func subscribe(t *testing.T, brokerURL, user, pw, filter string) *stationtest.Recorder {
	t.Helper()
	return stationtest.SubscribeAs(t, brokerURL, user, pw, filter)
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
func validateAll(t *testing.T, rec *stationtest.Recorder) int {
	t.Helper()
	v := validator(t)
	n := 0
	for topic, msgs := range rec.All() {
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

func loginSupervisor(t *testing.T, h *stationtest.Hub) *dashClient {
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
