package thermometer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/thermometer/screening"
	"github.com/kordon/kordon/e2e/stationtest"
	"github.com/kordon/kordon/hub/dash"
	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/contract"
)

// End to end: a real edged (in-process) runs the thermometer driver on a
// pty, publishes over MQTT to a real hub (mochi broker, SQLite, the default
// CEL rules) on 127.0.0.1, and an observer watches what the hub accepted.

// startBox runs edged with one thermometer bus on path.
func startBox(t *testing.T, h *stationtest.Hub, box, pw, devID, path string, options any) {
	t.Helper()
	runBox(t, h, box, pw, devID, path, t.TempDir(), options)
}

// runBox runs edged on stateDir until stop (or the test's end); stop
// returns once edged has stopped, so another may start on the same dir.
func runBox(t *testing.T, h *stationtest.Hub, box, pw, devID, path, stateDir string, options any) (stop func()) {
	t.Helper()
	opts, err := json.Marshal(options) // JSON is YAML flow style
	if err != nil {
		t.Fatal(err)
	}
	b := stationtest.BoxFor(h, box, pw, fmt.Sprintf(
		"  - id: %s\n    driver: modbus-thermometer\n    transport: {type: serial, path: %s, baud: 9600}\n    options: %s\n", devID, path, opts))
	b.StateDir = stateDir
	_, stop = b.Run(t, context.Background())
	return stop
}

// watcher reads the readings the hub accepted (the broker delivers a
// reading to subscribers only after the hub's ingest hook stored it and
// ran the rules on it).
type watcher struct {
	rec   *stationtest.Recorder
	topic string
}

type wireReading struct {
	Device  string                  `json:"device"`
	Seq     uint64                  `json:"seq"`
	Quality struct{ Status string } `json:"quality"`
	Payload screening.Temperature   `json:"payload"`
}

func watch(t *testing.T, h *stationtest.Hub, topic string) *watcher {
	t.Helper()
	return &watcher{rec: stationtest.Subscribe(t, h), topic: topic}
}

// until waits, woken by each arriving reading, until ok holds.
func (w *watcher) until(t *testing.T, within time.Duration, ok func([]wireReading) bool) []wireReading {
	t.Helper()
	var rs []wireReading
	w.rec.Wait(t, w.topic, within, func(msgs [][]byte) bool {
		rs = rs[:0]
		for _, m := range msgs {
			var r wireReading
			if err := json.Unmarshal(m, &r); err != nil {
				t.Errorf("reading: %v", err)
				continue
			}
			rs = append(rs, r)
		}
		return ok(rs)
	})
	return rs
}

func alerts(t *testing.T, h *stationtest.Hub) []contract.Alert {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+h.HTTPAddr()+"/api/alerts?limit=1000", nil)
	req.SetBasicAuth(stationtest.Supervisor, stationtest.SupervisorPassword) // the API needs a dashboard user
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []contract.Alert
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("alerts %s: %v", b, err)
	}
	return out
}

func hasEvent(ev string) func([]wireReading) bool {
	return func(rs []wireReading) bool {
		return slices.ContainsFunc(rs, func(r wireReading) bool { return slices.Contains(r.Payload.Events, ev) })
	}
}

// TestFeverTraceRaisesOneAlertAtHub plays the fever trace (a spike, eight
// feverish samples, recovery) through edged into the hub: exactly one fever
// alert, naming the booth, linked to the onset reading.
func TestFeverTraceRaisesOneAlertAtHub(t *testing.T) {
	tr, err := trace.ReadFile("testdata/traces/calex-fever.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	p := stationtest.NewDevice(t, tr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Poll/response: replies go out only after the polls they answer, so
	// the replay can start before edged opens the port.
	p.Play(ctx, replay.Options{})

	h := stationtest.StartHub(t, map[string]string{"booth-3": "boxpw"})
	w := watch(t, h, contract.Readings(stationtest.Crossing, "booth-3", "thermo1"))
	startBox(t, h, "booth-3", "boxpw", "thermo1", p.Path, tr.Header.Options)

	rs := w.until(t, 30*time.Second, hasEvent(screening.EventFeverCleared))
	var onset wireReading
	for _, r := range rs {
		if slices.Contains(r.Payload.Events, screening.EventFeverOnset) {
			onset = r
		}
	}
	fevers := 0
	for _, r := range rs {
		if r.Payload.Fever {
			fevers++
		}
	}
	if fevers < 3 {
		t.Fatalf("only %d feverish readings reached the hub; the trace has more", fevers)
	}
	var fever []contract.Alert
	for _, a := range alerts(t, h) {
		if a.Rule == "fever" {
			fever = append(fever, a)
		}
	}
	if len(fever) != 1 {
		t.Fatalf("%d fever alerts, want exactly 1: %+v", len(fever), fever)
	}
	a := fever[0]
	if a.Box != "booth-3" || a.Device != "thermo1" || a.Severity != "high" || len(a.Readings) != 1 || a.Readings[0].Seq != onset.Seq {
		t.Errorf("alert %+v, want booth-3/thermo1 high, linked to onset seq %d", a, onset.Seq)
	}
	// The officer sees which booth and sensor, and the temperature.
	if want := "Fever 38.2 °C at thermo1/lane-1"; a.Summary != want {
		t.Errorf("summary %q, want %q", a.Summary, want)
	}
	// The recovery reading (fever_cleared) cleared the alert's condition at
	// the hub: the BLO dashboard shows it as cleared. The observer saw that
	// reading only after the hub's ingest had taken it, rules included.
	var detail struct {
		Alert struct {
			ClearedAt string `json:"cleared_at"`
			State     string `json:"state"`
		} `json:"alert"`
	}
	dashGet(t, h, "/dash/api/alerts/"+a.ID, &detail)
	if detail.Alert.ClearedAt == "" {
		t.Errorf("fever alert not cleared after the recovery reading: %+v", detail.Alert)
	}
}

// dashGet reads a dashboard API path as a logged-in supervisor.
func dashGet(t *testing.T, h *stationtest.Hub, path string, v any) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	base := "http://" + h.HTTPAddr()
	resp, err := dash.PostLogin(c, base, stationtest.Supervisor, stationtest.SupervisorPassword)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = c.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestPymodbusValuesArriveAtHub: edged polls an independent RTU slave
// (pymodbus over socat ptys); the decoded values reach the hub.
func TestPymodbusValuesArriveAtHub(t *testing.T) {
	path := startPymodbusSlave(t)
	h := stationtest.StartHub(t, map[string]string{"booth-1": "boxpw"})
	w := watch(t, h, contract.Readings(stationtest.Crossing, "booth-1", "bus1"))
	startBox(t, h, "booth-1", "boxpw", "bus1", path, map[string]any{
		"poll": "50ms", "timeout": "300ms",
		"slaves": []any{
			map[string]any{"address": 1, "name": "lane-1", "profile": "calex-pyrousb"},
			map[string]any{"address": 2, "name": "outdoor-air", "profile": "xy-md02", "screening": map[string]any{"fever": false}},
		},
		"screening": map[string]any{"stuck_window": "0s"},
	})
	good := func(sensor string, c float64) func([]wireReading) bool {
		return func(rs []wireReading) bool {
			return slices.ContainsFunc(rs, func(r wireReading) bool {
				return r.Payload.Sensor == sensor && r.Quality.Status == "ok" && r.Payload.Celsius != nil && *r.Payload.Celsius == c
			})
		}
	}
	w.until(t, 30*time.Second, func(rs []wireReading) bool { return good("lane-1", 36.5)(rs) && good("outdoor-air", -7.5)(rs) })
}

// TestStuckSensorRaisesFaultAlertAtHub: a sensor frozen at 36.6 becomes one
// thermometer-fault alert at the hub once the stuck window has passed.
func TestStuckSensorRaisesFaultAlertAtHub(t *testing.T) {
	tr, err := trace.ReadFile("testdata/traces/calex-stuck.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	p := stationtest.NewDevice(t, tr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.Play(ctx, replay.Options{})
	h := stationtest.StartHub(t, map[string]string{"booth-4": "boxpw"})
	w := watch(t, h, contract.Readings(stationtest.Crossing, "booth-4", "thermo1"))
	startBox(t, h, "booth-4", "boxpw", "thermo1", p.Path, tr.Header.Options)
	rs := w.until(t, 30*time.Second, hasEvent(screening.EventFaultCleared))
	var stuck wireReading
	for _, r := range rs {
		if r.Payload.Fault == "stuck" {
			stuck = r
		}
	}
	if stuck.Quality.Status != "bad" || stuck.Payload.Celsius != nil {
		t.Fatalf("stuck reading %+v", stuck)
	}
	var faults []contract.Alert
	for _, a := range alerts(t, h) {
		if a.Rule == "thermometer-fault" {
			faults = append(faults, a)
		}
	}
	if len(faults) != 1 || faults[0].Readings[0].Seq != stuck.Seq {
		t.Fatalf("fault alerts %+v, want one for the stuck reading seq %d", faults, stuck.Seq)
	}
}
