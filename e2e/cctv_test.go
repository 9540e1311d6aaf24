package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"periph.io/x/conn/v3/gpio"

	"github.com/kordon/kordon/drivers/cctv"
	"github.com/kordon/kordon/e2e/stationtest"
	"github.com/kordon/kordon/edge"
	"github.com/kordon/kordon/hub"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/gpioline/gpiolinetest"
)

const badCheckTrace = "../drivers/passport/testdata/traces/line-td3-bad-check.jsonl"

// startGPIOBox runs a real edged in-process with a passport reader on
// devPath, a CCTV output on fake line GPIO17 fired by documents with
// failing checks, and a tamper switch on fake line GPIO27.
func startGPIOBox(t *testing.T, ctx context.Context, brokerURL, box, password, devPath string) (*edge.Box, *gpiolinetest.Lines) {
	t.Helper()
	pins := gpiolinetest.New("GPIO17", "GPIO27")
	b := stationtest.Box{ID: box, Password: password, Broker: brokerURL, Pins: pins, Devices: fmt.Sprintf(`
  - id: reader1
    driver: mrz
    transport: {type: serial, path: %s, baud: 9600}
    options: {framing: line}
  - id: cctv1
    driver: cctv
    transport: {type: gpio}
    options:
      line: GPIO17
      input: "NVR-1 alarm in 1"
      pulse: 50ms
      min_gap: 100ms
      on:
        - {name: document-check-failed, when: 'kind == "document" && !payload.valid'}
  - id: tamper1
    driver: contact
    transport: {type: gpio}
    options: {line: GPIO27, role: tamper, debounce: 5ms}
`, devPath)}.Start(t, ctx)
	return b, pins
}

// waitPulse waits for the CCTV line's rest level and one whole pulse.
func waitPulse(t *testing.T, pin *gpiolinetest.Pin, within time.Duration) []gpiolinetest.Change {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	outs, err := pin.WaitOuts(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if outs[0].Level != gpio.Low || outs[1].Level != gpio.High || outs[2].Level != gpio.Low {
		t.Fatalf("CCTV line driven %v, want low (rest), high, low", outs)
	}
	if w := outs[2].At.Sub(outs[1].At); w < 50*time.Millisecond {
		t.Errorf("pulse %v, want >= 50ms", w)
	}
	return outs
}

type cctvReading struct {
	Device  string       `json:"device"`
	Seq     uint64       `json:"seq"`
	Payload cctv.Payload `json:"payload"`
}

// checkCCTVReadings checks the output's three readings as the hub got them.
func checkCCTVReadings(t *testing.T, msgs [][]byte) {
	t.Helper()
	var got []cctv.Payload
	for _, m := range msgs {
		got = append(got, decode[cctvReading](t, m).Payload)
	}
	if len(got) != 3 || got[0].Cause != "start" || got[0].Active ||
		!got[1].Active || got[1].Cause != "rule:document-check-failed" || got[1].Trigger == nil ||
		got[1].Trigger.Device != "reader1" || got[1].Trigger.Seq != 1 || got[1].Input != "NVR-1 alarm in 1" ||
		got[2].Active || got[2].Cause != "pulse-end" {
		t.Errorf("cctv1 readings = %+v, want start, activated by reader1 #1, pulse-end", got)
	}
}

// TestAlarmTracePulsesCCTVHubUp: the bad-check passport trace, replayed
// through a pty, pulses the CCTV line; the pulse arrives at the hub as
// readings next to the document and its alert. A tamper switch tripping
// raises the box-tamper alert.
func TestAlarmTracePulsesCCTVHubUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := startHub(t, map[string]string{"booth-01": "pw1"})
	broker := "tcp://" + h.MQTTAddr()
	watch := subscribe(t, broker, "watch", "watchpw", contract.Prefix+"/"+crossing+"/#")
	devPath, play := replayDevice(t, badCheckTrace, false)
	_, pins := startGPIOBox(t, ctx, broker, "booth-01", "pw1", devPath)
	watch.DeviceUp(t, "booth-01", "reader1")
	watch.DeviceUp(t, "booth-01", "cctv1")
	play(ctx)

	waitPulse(t, pins.Pin("GPIO17"), 20*time.Second)
	checkCCTVReadings(t, watch.WaitCount(t, contract.Readings(crossing, "booth-01", "cctv1"), 3, 10*time.Second))
	a := decode[contract.Alert](t, watch.First(t, contract.Alerts(crossing), 10*time.Second))
	if a.Rule != "document-check-failed" {
		t.Errorf("alert %+v", a)
	}

	watch.DeviceUp(t, "booth-01", "tamper1")
	if err := pins.Pin("GPIO27").Edge(ctx, gpio.Low); err != nil { // tamper switch opens to ground
		t.Fatal(err)
	}
	alerts := watch.WaitCount(t, contract.Alerts(crossing), 2, 10*time.Second)
	if a := decode[contract.Alert](t, alerts[1]); a.Rule != "box-tamper" || a.Device != "tamper1" || a.Severity != "high" {
		t.Errorf("tamper alert = %+v", a)
	}
	if n := validateAll(t, watch); n == 0 {
		t.Error("no messages validated")
	}
}

// TestAlarmTracePulsesCCTVHubDown: with the hub unreachable the line still
// pulses at once; the pulse's readings wait in the outbox and reach the hub
// when it comes up.
func TestAlarmTracePulsesCCTVHubDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// An address nobody listens on yet; the hub starts on it later.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	devPath, play := replayDevice(t, badCheckTrace, false)
	b, pins := startGPIOBox(t, ctx, "tcp://"+addr, "booth-01", "pw1", devPath)
	// The CCTV output's rest level shows once its rules are live; the pty
	// keeps what the trace writes until the reader opens it.
	if _, err := pins.Pin("GPIO17").WaitOuts(ctx, 1); err != nil {
		t.Fatal(err)
	}
	play(ctx)
	waitPulse(t, pins.Pin("GPIO17"), 20*time.Second)
	if st := b.Status(); st.Connected {
		t.Fatal("box connected with no hub")
	}

	cfg := stationtest.HubConfig(t, map[string]string{"booth-01": "pw1"})
	cfg.MQTT = addr
	h := stationtest.RunHub(t, cfg, nil)
	watch := subscribe(t, "tcp://"+addr, "watch", "watchpw", contract.Prefix+"/"+crossing+"/#")
	// Readings are not retained: the hub's store is where the backlog shows.
	for {
		var rs []json.RawMessage
		req, _ := http.NewRequest("GET", "http://"+h.HTTPAddr()+"/api/readings?limit=1000", nil)
		req.SetBasicAuth("sup", "suppw") // the API needs a dashboard user
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&rs)
		resp.Body.Close()
		var cctvMsgs [][]byte
		for i := len(rs) - 1; i >= 0; i-- { // oldest first
			if strings.Contains(string(rs[i]), `"device":"cctv1"`) {
				cctvMsgs = append(cctvMsgs, rs[i])
			}
		}
		if len(cctvMsgs) >= 3 {
			checkCCTVReadings(t, cctvMsgs)
			break
		}
		// Wake on whatever the box publishes next (state, availability,
		// readings) rather than on a timer.
		select {
		case <-watch.Next():
		case <-ctx.Done():
			t.Fatalf("the hub has %d of the 3 cctv1 readings", len(cctvMsgs))
		}
	}
}

// postCommand sends a command through the hub's API, as a logged-in
// supervisor on the BLO dashboard does, and waits for the result.
func postCommand(t *testing.T, h *stationtest.Hub, box, body string) hub.CommandRecord {
	t.Helper()
	b := loginSupervisor(t, h).do(t, http.MethodPost, "/dash/api/boxes/"+box+"/commands?wait=15s", body)
	var rec hub.CommandRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("POST: %s", b)
	}
	return rec
}

// TestCommandThroughHubAPI: a cctv-trigger posted to the hub's API (as the
// BLO dashboard does) reaches the box, pulses the line, and the box's
// result comes back to the API.
func TestCommandThroughHubAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := startHub(t, map[string]string{"booth-01": "pw1"})
	broker := "tcp://" + h.MQTTAddr()
	watch := subscribe(t, broker, "watch", "watchpw", contract.Prefix+"/"+crossing+"/#")
	devPath, _ := replayDevice(t, badCheckTrace, false)
	_, pins := startGPIOBox(t, ctx, broker, "booth-01", "pw1", devPath)
	watch.DeviceUp(t, "booth-01", "cctv1")

	rec := postCommand(t, h, "booth-01", `{"name":"cctv-trigger","args":{"device":"cctv1"}}`)
	if rec.Status != "ok" || rec.Reply == nil || rec.Reply.Result["action"] != "activated" || rec.Reply.Result["device"] != "cctv1" {
		t.Fatalf("command = %+v", rec)
	}
	waitPulse(t, pins.Pin("GPIO17"), 10*time.Second)
	msgs := watch.WaitCount(t, contract.Readings(crossing, "booth-01", "cctv1"), 2, 10*time.Second)
	if p := decode[cctvReading](t, msgs[1]).Payload; p.Cause != "command:"+rec.ID || !p.Active {
		t.Errorf("activation reading = %+v, want caused by the command", p)
	}
	body := loginSupervisor(t, h).do(t, http.MethodGet, "/dash/api/commands/"+rec.ID, "")
	got := decode[hub.CommandRecord](t, body)
	if got.Status != "ok" || got.Box != "booth-01" || got.Reply == nil || !got.Reply.OK {
		t.Errorf("GET /dash/api/commands/%s = %+v", rec.ID, got)
	}
	// The box's replies validate against the contract.
	watch.First(t, contract.Replies(crossing, "booth-01"), 5*time.Second)
	validateAll(t, watch)
}

// TestCommandFromBoxIdentityRefused: another box's credentials cannot
// command booth-01: the hub drops the message and disconnects the sender,
// and booth-01 never acts on it.
func TestCommandFromBoxIdentityRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := startHub(t, map[string]string{"booth-01": "pw1", "booth-02": "pw2"})
	broker := "tcp://" + h.MQTTAddr()
	watch := subscribe(t, broker, "watch", "watchpw", contract.Prefix+"/"+crossing+"/#")
	devPath, _ := replayDevice(t, badCheckTrace, false)
	_, pins := startGPIOBox(t, ctx, broker, "booth-01", "pw1", devPath)
	watch.DeviceUp(t, "booth-01", "cctv1")

	forged, _ := json.Marshal(contract.Command{Schema: contract.CommandV1, ID: "forged-1", Name: "cctv-trigger",
		Expires: time.Now().Add(time.Minute)})
	denied := h.Counters().Denied
	// booth-01's own credentials cannot even connect beside booth-01: a box
	// connects only under its own client id, which booth-01 holds.
	rogue := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("rogue-booth-01").
		SetUsername("booth-01").SetPassword("pw1").SetAutoReconnect(false).SetProtocolVersion(4))
	if tok := rogue.Connect(); tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
		rogue.Disconnect(0)
		t.Fatal("booth-01's credentials connected under another client id")
	}
	for _, user := range []struct{ name, pw string }{{"booth-02", "pw2"}} {
		lost := make(chan error, 1)
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("kordon-" + crossing + "-" + user.name).
			SetUsername(user.name).SetPassword(user.pw).SetAutoReconnect(false).SetProtocolVersion(4).
			SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err }))
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("%s connect: %v", user.name, tok.Error())
		}
		c.Publish(contract.Commands(crossing, "booth-01"), 1, false, forged)
		select {
		case <-lost:
		case <-ctx.Done():
			t.Fatalf("%s publishing a command kept its connection", user.name)
		}
		c.Disconnect(0)
	}
	if d := h.Counters().Denied - denied; d != 1 {
		t.Errorf("denied counter rose by %d, want 1", d)
	}
	// A command from the hub, sent after the forged ones, goes through; had
	// a forged one been delivered, booth-01 would have had it first.
	rec := postCommand(t, h, "booth-01", `{"name":"ping"}`)
	if rec.Status != "ok" {
		t.Fatalf("ping = %+v", rec)
	}
	for _, m := range watch.All()[contract.Replies(crossing, "booth-01")] {
		if r := decode[contract.Reply](t, m); r.ID == "forged-1" {
			t.Errorf("booth-01 answered the forged command: %+v", r)
		}
	}
	if outs := pins.Pin("GPIO17").Outs(); len(outs) != 1 {
		t.Errorf("CCTV line driven %v, want only its rest level", outs)
	}
}
