package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/reading"
)

// TestTraceToAlert is the walking skeleton end to end: a recorded trace of a
// document with a failing check digit goes through a pty into edged's real
// serial path, over MQTT into the hub, is stored, and raises an alert that
// is stored and published on the alert topic.
func TestTraceToAlert(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := startHub(t, map[string]string{"booth-01": "pw1"})
	broker := "tcp://" + h.MQTTAddr()
	alerts := subscribe(t, broker, "watch", "watchpw", contract.Prefix+"/"+crossing+"/#")

	devPath, play := replayDevice(t, "../drivers/passport/testdata/traces/line-td3-bad-check.jsonl", false)
	startBox(t, ctx, broker, "booth-01", "pw1", devPath)
	alerts.DeviceUp(t, "booth-01", "reader1")
	play(ctx)

	raw := alerts.First(t, contract.Alerts(crossing), 20*time.Second)
	a := decode[contract.Alert](t, raw)
	if a.Rule != "document-check-failed" || a.Box != "booth-01" || a.Device != "reader1" || a.State != "open" {
		t.Errorf("alert = %+v", a)
	}
	if len(a.Readings) != 1 || a.Readings[0].Seq != 1 {
		t.Errorf("alert readings = %+v, want seq 1 of reader1", a.Readings)
	}

	// The hub stored the reading and the alert.
	stored := httpJSON[[]json.RawMessage](t, "http://"+h.HTTPAddr()+"/api/alerts")
	if len(stored) != 1 {
		t.Fatalf("hub stored %d alerts, want 1", len(stored))
	}
	type apiReading struct {
		Kind    string          `json:"kind"`
		Quality reading.Quality `json:"quality"`
		Payload map[string]any  `json:"payload"`
		Raw     *string         `json:"raw"`
	}
	readings := httpJSON[[]apiReading](t, "http://"+h.HTTPAddr()+"/api/readings")
	if len(readings) != 1 || readings[0].Kind != "document" || readings[0].Quality.Status != reading.Bad {
		t.Fatalf("hub readings = %+v", readings)
	}
	// The page API withholds personal data.
	p := readings[0].Payload
	if p["number"] != "[personal]" || p["primary_name"] != "[personal]" || p["birth_date"] != "[personal]" || readings[0].Raw != nil {
		t.Errorf("personal data not withheld from /api/readings: %v", p)
	}
	if p["valid"] != false || p["issuer"] != "UTO" {
		t.Errorf("non-personal fields lost: valid=%v issuer=%v", p["valid"], p["issuer"])
	}

	// Every message edged published (readings, state, availability) validates.
	alerts.First(t, contract.Readings(crossing, "booth-01", "reader1"), 5*time.Second)
	if n := validateAll(t, alerts); n < 4 {
		t.Errorf("only %d messages seen; want state, availability, reading, alert", n)
	}
}

// TestSpecimenIsReadingNotAlert checks the good path: the ICAO specimen is
// stored as an ok reading; its checks pass, so the only alert it may raise
// is that it expired (in 2012) — once per read, never a check failure.
func TestSpecimenIsReadingNotAlert(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := startHub(t, map[string]string{"booth-02": "pw2"})
	broker := "tcp://" + h.MQTTAddr()
	rec := subscribe(t, broker, "watch", "watchpw", contract.Prefix+"/"+crossing+"/#")
	devPath, play := replayDevice(t, "../drivers/passport/testdata/traces/line-td3-specimen.jsonl", false)
	startBox(t, ctx, broker, "booth-02", "pw2", devPath)
	rec.DeviceUp(t, "booth-02", "reader1")
	play(ctx)
	// The observer gets a reading only after the hub's ingest has stored it.
	msgs := rec.WaitCount(t, contract.Readings(crossing, "booth-02", "reader1"), 2, 20*time.Second)
	if h.Counters().Readings != 2 || len(msgs) != 2 {
		t.Fatalf("%d readings published, want 2", len(msgs))
	}
	for i, m := range msgs {
		r := decode[reading.Reading](t, m)
		if r.Seq != uint64(i+1) || r.Quality.Status != reading.OK || r.Kind() != "document" {
			t.Errorf("reading %d: seq %d quality %s kind %s", i, r.Seq, r.Quality.Status, r.Kind())
		}
	}
	alerts := httpJSON[[]contract.Alert](t, "http://"+h.HTTPAddr()+"/api/alerts")
	if len(alerts) != 2 {
		t.Fatalf("specimen read twice raised %d alerts, want 2 (expired)", len(alerts))
	}
	for _, a := range alerts {
		if a.Rule != "document-expired" {
			t.Errorf("specimen raised %s: %s", a.Rule, a.Summary)
		}
	}
}

// TestAnonymousAndForeignClientsRefused: no credentials, wrong password and
// box A publishing under box B are all refused.
func TestAnonymousAndForeignClientsRefused(t *testing.T) {
	h := startHub(t, map[string]string{"booth-a": "pwa", "booth-b": "pwb"})
	broker := "tcp://" + h.MQTTAddr()
	for _, tc := range []struct{ name, user, pw string }{
		{"anonymous", "", ""},
		{"wrong password", "booth-a", "nope"},
		{"unknown box", "booth-z", "pwa"},
	} {
		// Protocol 3.1.1 only: paho would otherwise retry with 3.1 and count twice.
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("x-" + tc.name).
			SetUsername(tc.user).SetPassword(tc.pw).SetConnectRetry(false).SetAutoReconnect(false).SetProtocolVersion(4))
		tok := c.Connect()
		if !tok.WaitTimeout(10 * time.Second) {
			t.Fatalf("%s: connect did not finish", tc.name)
		}
		if tok.Error() == nil {
			c.Disconnect(0)
			t.Errorf("%s: connection accepted", tc.name)
		}
	}
	if got := h.Counters().Clients; got != 3 {
		t.Errorf("refused clients counter = %d, want 3", got)
	}

	// booth-a's credentials cannot publish under booth-b, nor commands to
	// itself: the hub drops the message and disconnects the client.
	watch := subscribe(t, broker, "watch", "watchpw", contract.Prefix+"/"+crossing+"/#")
	forged := []byte(`{"schema":"kordon.state/1","crossing":"kz-test","box":"booth-b","state":"offline","time":"2026-11-22T10:00:00Z"}`)
	for _, topic := range []string{contract.BoxState(crossing, "booth-b"), contract.Commands(crossing, "booth-a")} {
		lost := make(chan error, 1)
		a := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("kordon-kz-test-booth-a"). // a box connects only under its own id
															SetUsername("booth-a").SetPassword("pwa").SetAutoReconnect(false).SetProtocolVersion(4).
															SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err }))
		if tok := a.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("booth-a connect: %v", tok.Error())
		}
		a.Publish(topic, 1, false, forged)
		select {
		case <-lost:
		case <-time.After(10 * time.Second):
			t.Errorf("publishing to %s did not cost booth-a its connection", topic)
		}
		a.Disconnect(0)
	}
	// A message booth-a may send, sent after the forged ones: once it has
	// arrived, the forged ones would have too.
	a := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("kordon-kz-test-booth-a").SetUsername("booth-a").SetPassword("pwa").SetProtocolVersion(4))
	if tok := a.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("booth-a connect: %v", tok.Error())
	}
	defer a.Disconnect(0)
	own := []byte(`{"schema":"kordon.state/1","crossing":"kz-test","box":"booth-a","state":"online","time":"2026-11-22T10:00:00Z"}`)
	a.Publish(contract.BoxState(crossing, "booth-a"), 1, false, own).WaitTimeout(5 * time.Second)
	watch.First(t, contract.BoxState(crossing, "booth-a"), 10*time.Second)
	got := watch.All()
	if len(got[contract.BoxState(crossing, "booth-b")]) != 0 || len(got[contract.Commands(crossing, "booth-a")]) != 0 {
		t.Errorf("forged messages were delivered: %v", got)
	}
	if h.Counters().Denied < 2 {
		t.Errorf("denied counter = %d, want >= 2", h.Counters().Denied)
	}
	// And booth-a may not subscribe to another box's commands.
	tok := a.Subscribe(contract.Commands(crossing, "booth-b"), 1, nil)
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatal("subscribe did not finish")
	}
	for _, code := range tok.(*mqtt.SubscribeToken).Result() {
		if code < 0x80 {
			t.Errorf("subscription to booth-b's commands granted (code %#x)", code)
		}
	}
}

// httpJSON GETs a hub API route as the dashboard user sup (HTTP Basic).
func httpJSON[T any](t *testing.T, url string) T {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.SetBasicAuth("sup", "suppw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v T
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}
