package hub

// The hostile-client suite: each test is one attack an outside audit made
// against a real hub (real mochi broker, real SQLite, paho or raw TCP
// clients). Each asserts the attack is refused or contained and counted;
// during floods a legitimate box's publish latency is measured and logged
// (never asserted: timing on a shared CI machine would flake).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"

	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/logging"
)

// hostileHub runs a password-mode hub with boxes booth1..booth3 (password
// pw<N>) and the observer watch/watchpw; edit adjusts the config first.
func hostileHub(t testing.TB, edit func(*Config)) *Hub {
	t.Helper()
	h := newHostileHub(t, edit)
	t.Cleanup(func() { h.Close() })
	return h
}

// newHostileHub is hostileHub for a test that closes the hub itself.
func newHostileHub(t testing.TB, edit func(*Config)) *Hub {
	t.Helper()
	hash := func(pw string) string {
		b, _ := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		return string(b)
	}
	cfg := &Config{Crossing: testCrossing, MQTT: "127.0.0.1:0", DataDir: t.TempDir(),
		Observers: []Observer{{User: "watch", PasswordHash: hash("watchpw")}}}
	for i := 1; i <= 3; i++ {
		cfg.Boxes = append(cfg.Boxes, BoxCreds{Box: fmt.Sprintf("booth%d", i), PasswordHash: hash(fmt.Sprintf("pw%d", i))})
	}
	if edit != nil {
		edit(cfg)
	}
	h, err := New(cfg, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	return h
}

func boxID(box string) string { return "kordon-" + testCrossing + "-" + box }

func boxClient(t testing.TB, h *Hub, box string) paho.Client {
	t.Helper()
	c, err := connect(t, clientOpts{url: "tcp://" + h.MQTTAddr(), id: boxID(box), user: box, pw: "pw" + box[len(box)-1:]})
	if err != nil {
		t.Fatalf("%s refused: %v", box, err)
	}
	return c
}

// dialWill connects with a Last Will and returns the CONNECT's outcome.
func dialWill(h *Hub, id, user, pw, topic string, payload []byte, retain bool) error {
	opts := paho.NewClientOptions().AddBroker("tcp://"+h.MQTTAddr()).SetClientID(id).SetUsername(user).SetPassword(pw).
		SetAutoReconnect(false).SetConnectTimeout(5*time.Second).SetBinaryWill(topic, payload, 1, retain).SetProtocolVersion(4)
	c := paho.NewClient(opts)
	tok := c.Connect()
	tok.WaitTimeout(10 * time.Second)
	if tok.Error() == nil {
		c.Disconnect(0)
	}
	return tok.Error()
}

func (h *Hub) refusedFor(reason string) int64 { return h.auth.counts.get(reason) }

func TestHostileWillOnAnotherBoxIsRefused(t *testing.T) {
	h := hostileHub(t, nil)
	resend, _ := json.Marshal(contract.Command{Schema: contract.CommandV1, ID: "forged", Name: "resend",
		Args: map[string]string{"device": "reader1", "from": "1"}, Expires: time.Now().Add(time.Hour)})
	alert, _ := json.Marshal(contract.Alert{Schema: contract.AlertV1, ID: "forged", Crossing: testCrossing, Box: "booth2", Rule: "x", Severity: "critical"})
	offline2, _ := json.Marshal(contract.State{Schema: contract.StateV1, Crossing: testCrossing, Box: "booth2", State: "offline", Time: time.Now().UTC()})
	for name, w := range map[string]struct {
		topic   string
		payload []byte
		retain  bool
	}{
		"command to booth2":              {contract.Commands(testCrossing, "booth2"), resend, false},
		"own commands":                   {contract.Commands(testCrossing, "booth1"), resend, false},
		"retained alert":                 {contract.Alerts(testCrossing), alert, true},
		"booth2's state":                 {contract.BoxState(testCrossing, "booth2"), offline2, true},
		"own state naming booth2":        {contract.BoxState(testCrossing, "booth1"), offline2, true},
		"own readings topic":             {contract.Readings(testCrossing, "booth1", "reader1"), []byte(`{}`), false},
		"wildcard topic":                 {"kordon/v1/" + testCrossing + "/+/commands", resend, false},
		"retained junk under own topics": {contract.BoxRoot(testCrossing, "booth1") + "junk", bytes.Repeat([]byte("x"), 1000), true},
	} {
		t.Run(name, func(t *testing.T) {
			before := h.refusedFor("will")
			if err := dialWill(h, boxID("booth1"), "booth1", "pw1", w.topic, w.payload, w.retain); err == nil {
				t.Fatalf("CONNECT with a Will on %s admitted", w.topic)
			}
			if h.refusedFor("will") != before+1 {
				t.Fatal("Will refusal not counted")
			}
		})
	}
	t.Run("observer with any Will", func(t *testing.T) {
		if err := dialWill(h, "watch-1", "watch", "watchpw", contract.Commands(testCrossing, "booth2"), resend, false); err == nil {
			t.Fatal("observer admitted with a Will")
		}
	})
	t.Run("the contract's own Will is admitted", func(t *testing.T) {
		offline1, _ := json.Marshal(contract.State{Schema: contract.StateV1, Crossing: testCrossing, Box: "booth1", State: "offline", Time: time.Now().UTC()})
		if err := dialWill(h, boxID("booth1"), "booth1", "pw1", contract.BoxState(testCrossing, "booth1"), offline1, true); err != nil {
			t.Fatalf("booth1 with its contract Will refused: %v", err)
		}
	})
}

func TestHostileStateSpoofIsRefused(t *testing.T) {
	h := hostileHub(t, nil)
	c2 := boxClient(t, h, "booth2")
	online2, _ := json.Marshal(contract.State{Schema: contract.StateV1, Crossing: testCrossing, Box: "booth2", State: "online", Time: time.Now().UTC()})
	up2, _ := json.Marshal(contract.DeviceAvailability{Schema: contract.AvailabilityV1, Box: "booth2", Device: "reader1", State: "up", Time: time.Now().UTC()})
	c2.Publish(contract.BoxState(testCrossing, "booth2"), 1, true, online2).Wait()
	c2.Publish(contract.Availability(testCrossing, "booth2", "reader1"), 1, true, up2).Wait()

	c1 := boxClient(t, h, "booth1")
	before := h.refusedFor("identity")
	offline2 := bytes.Replace(online2, []byte(`"online"`), []byte(`"offline"`), 1)
	down2, _ := json.Marshal(contract.DeviceAvailability{Schema: contract.AvailabilityV1, Box: "booth2", Device: "reader1", State: "down", Reason: "down (spoofed)", Time: time.Now().UTC()})
	down1other, _ := json.Marshal(contract.DeviceAvailability{Schema: contract.AvailabilityV1, Box: "booth1", Device: "reader1", State: "down", Reason: "spoofed", Time: time.Now().UTC()})
	c1.Publish(contract.BoxState(testCrossing, "booth1"), 1, true, offline2).Wait()                  // booth1's topic, booth2's name
	c1.Publish(contract.Availability(testCrossing, "booth1", "reader1"), 1, true, down2).Wait()      // same for a device
	c1.Publish(contract.Availability(testCrossing, "booth1", "reader9"), 1, true, down1other).Wait() // device named unlike its topic
	c1.Publish(contract.Availability(testCrossing, "booth2", "reader1"), 1, true, down2).Wait()      // booth2's topic (ACL)
	waitFor(t, "three identity refusals", func() bool { return h.refusedFor("identity") >= before+3 })

	for _, s := range h.ingest.snapshot() {
		if bytes.Contains(s, []byte("spoofed")) || bytes.Contains(s, []byte(`"offline"`)) {
			t.Fatalf("spoofed state reached the hub: %s", s)
		}
	}
	rec := httptest.NewRecorder()
	h.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics answered %d after spoofing attempts: %s", rec.Code, rec.Body)
	}
	if !strings.Contains(rec.Body.String(), `kordon_hub_box_online{box="booth2"} 1`) {
		t.Fatal("booth2 not shown online in /metrics")
	}
	if !strings.Contains(rec.Body.String(), `kordon_hub_mqtt_refused_total{reason="identity"}`) {
		t.Fatal("identity refusals not in /metrics")
	}
}

func TestHostileClientIDTakeoverIsRefused(t *testing.T) {
	h := hostileHub(t, nil)
	url := "tcp://" + h.MQTTAddr()
	if _, err := connect(t, clientOpts{url: url, id: "watch-tool", user: "watch", pw: "watchpw"}); err != nil {
		t.Fatal(err)
	}
	before := h.refusedFor("client_id")
	if _, err := connect(t, clientOpts{url: url, id: "watch-tool", user: "booth1", pw: "pw1"}); err == nil {
		t.Fatal("box credentials took over the observer's client id")
	}
	if _, err := connect(t, clientOpts{url: url, id: "any-id", user: "booth1", pw: "pw1"}); err == nil {
		t.Fatal("box admitted under a client id not its own")
	}
	if _, err := connect(t, clientOpts{url: url, id: boxID("booth1"), user: "watch", pw: "watchpw"}); err == nil {
		t.Fatal("observer took a box's client id")
	}
	if got := h.refusedFor("client_id"); got != before+3 {
		t.Fatalf("client-id refusals counted %d, want %d", got, before+3)
	}
}

func TestHostileObserverGetsNoPersonalData(t *testing.T) {
	h := hostileHub(t, nil)
	watch, err := connect(t, clientOpts{url: "tcp://" + h.MQTTAddr(), id: "watch-1", user: "watch", pw: "watchpw"})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 16)
	var foreign atomic.Int64
	watch.Subscribe("#", 1, func(_ paho.Client, m paho.Message) {
		switch {
		case !strings.HasPrefix(m.Topic(), contract.Prefix+"/"+testCrossing+"/"):
			foreign.Add(1) // $SYS and the like: not the observer's
		case strings.HasSuffix(m.Topic(), "/readings"):
			got <- m.Payload()
		}
	}).Wait()
	c := boxClient(t, h, "booth1")
	topic := contract.Readings(testCrossing, "booth1", "reader1")
	// One reading as edged sends it, one whose sender left out its
	// personal list: neither may reach an observer with names or numbers.
	full := specimen(t, "booth1", "reader1", 1)
	for _, b := range [][]byte{full, withoutPersonal(specimen(t, "booth1", "reader1", 2))} {
		if tok := c.Publish(topic, 1, false, b); tok.Wait() && tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	for range 2 {
		select {
		case b := <-got:
			for _, secret := range []string{"ERIKSSON", "ANNA", "L898902C3", "1974-08-12", "740812"} {
				if bytes.Contains(b, []byte(secret)) {
					t.Fatalf("observer received %q: %s", secret, b)
				}
			}
			if !bytes.Contains(b, []byte(`"issuer":"UTO"`)) {
				t.Errorf("observer's reading lost its non-personal fields: %s", b)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("observer received no reading")
		}
	}
	if n := foreign.Load(); n > 0 {
		t.Fatalf("observer received %d messages outside the crossing", n)
	}
}

func TestHostileRetainedJunkIsBounded(t *testing.T) {
	h := hostileHub(t, func(c *Config) { c.Limits.RetainedPerBox = 8 })
	c := boxClient(t, h, "booth1")
	root := contract.BoxRoot(testCrossing, "booth1")
	junk := bytes.Repeat([]byte("j"), 200<<10)
	// QoS 0: at QoS 1 the first refusal ends an MQTT 3.1.1 session.
	for i := range 100 {
		c.Publish(fmt.Sprintf("%sjunk/%d", root, i), 0, true, junk).Wait()
	}
	waitFor(t, "junk topics refused", func() bool { return h.refusedFor("acl") >= 100 })
	for i := range 100 { // availability of devices that never existed
		a, _ := json.Marshal(contract.DeviceAvailability{Schema: contract.AvailabilityV1, Box: "booth1", Device: fmt.Sprintf("d%d", i), State: "up", Time: time.Now().UTC()})
		c.Publish(contract.Availability(testCrossing, "booth1", fmt.Sprintf("d%d", i)), 1, true, a).Wait()
	}
	big, _ := json.Marshal(contract.State{Schema: contract.StateV1, Crossing: testCrossing, Box: "booth1", State: "online", Time: time.Now().UTC(),
		Firmware: strings.Repeat("f", 100<<10)})
	c.Publish(contract.BoxState(testCrossing, "booth1"), 1, true, big).Wait()
	waitFor(t, "retain refusals counted", func() bool { return h.refusedFor("retain") >= 92+1 })
	var n, held int
	for topic, pk := range h.broker.Topics.Retained.GetAll() {
		if strings.HasPrefix(topic, root) {
			n++
			held += len(pk.Payload)
		}
	}
	if n > 8 {
		t.Fatalf("%d retained messages held for one box, want at most 8", n)
	}
	if held > 8*DefaultMaxRetained {
		t.Fatalf("retained payloads hold %d bytes", held)
	}
	snap := 0
	for _, s := range h.ingest.snapshot() {
		snap += len(s)
	}
	if snap > 8*DefaultMaxRetained {
		t.Fatalf("the /events snapshot holds %d bytes", snap)
	}
}

// legitBox publishes valid readings at a steady pace from box, each QoS 1,
// and records the time to its PUBACK.
type legitBox struct {
	c     paho.Client
	box   string
	seq   uint64
	mu    sync.Mutex
	lat   []time.Duration
	errs  int
	total int // acknowledged publishes over all runs
	done  chan struct{}
	alone time.Duration // p99 measured before the flood
}

// startLegitBox connects box, measures it alone for a second (the peer
// figure), then publishes again until stop is closed.
func startLegitBox(t *testing.T, h *Hub, box string, stop <-chan struct{}) *legitBox {
	t.Helper()
	lb := &legitBox{c: boxClient(t, h, box), box: box}
	alone := make(chan struct{})
	time.AfterFunc(time.Second, func() { close(alone) })
	lb.run(t, alone)
	lb.alone = lb.report(t, "no flood (peer figure)")
	lb.run(t, stop)
	return lb
}

func (lb *legitBox) run(t *testing.T, stop <-chan struct{}) {
	lb.mu.Lock()
	lb.lat, lb.errs, lb.done = nil, 0, make(chan struct{})
	lb.mu.Unlock()
	topic := contract.Readings(testCrossing, lb.box, "reader1")
	go func() {
		defer close(lb.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			lb.seq++
			body := specimen(t, lb.box, "reader1", lb.seq)
			t0 := time.Now()
			tok := lb.c.Publish(topic, 1, false, body)
			ok := tok.WaitTimeout(10 * time.Second)
			lb.mu.Lock()
			if !ok || tok.Error() != nil {
				lb.errs++
			} else {
				lb.lat = append(lb.lat, time.Since(t0))
				lb.total++
			}
			lb.mu.Unlock()
		}
	}()
}

// report stops nothing; it waits for the box to stop and logs its figures.
func (lb *legitBox) report(t *testing.T, flood string) time.Duration {
	t.Helper()
	<-lb.done
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if len(lb.lat) == 0 {
		t.Fatalf("%s: the legitimate box published nothing", flood)
	}
	s := slices.Clone(lb.lat)
	slices.Sort(s)
	p := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	t.Logf("%s: legitimate box, %d publishes, p50 %v, p99 %v, max %v, failed %d (p99 alone %v)", flood, len(s), p(0.5), p(0.99), s[len(s)-1], lb.errs, lb.alone)
	if lb.errs > 0 {
		t.Errorf("%s: %d of the legitimate box's publishes failed", flood, lb.errs)
	}
	return p(0.99)
}

func TestHostileWrongPasswordFloodIsContained(t *testing.T) {
	h := hostileHub(t, func(c *Config) {
		// bcrypt at its production cost: the flood is about CPU.
		b, _ := bcrypt.GenerateFromPassword([]byte("pw1"), bcrypt.DefaultCost)
		c.Boxes[0].PasswordHash = string(b)
	})
	stop := make(chan struct{})
	lb := startLegitBox(t, h, "booth1", stop)
	var wg sync.WaitGroup
	var admitted atomic.Int64
	work := make(chan int)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				conn, err := net.Dial("tcp", h.MQTTAddr())
				if err != nil {
					continue
				}
				if rawConnect(conn, fmt.Sprintf("flood-%d", i), "booth1", "wrong") == 0 {
					admitted.Add(1)
				}
				conn.Close()
			}
		}()
	}
	for i := range 500 {
		work <- i
	}
	close(work)
	wg.Wait()
	close(stop)
	lb.report(t, "500 wrong-password CONNECTs")
	if admitted.Load() > 0 {
		t.Fatal("a wrong password was admitted")
	}
	checks := h.auth.counts.get("bcrypt_checks")
	t.Logf("bcrypt checks made for 500 wrong passwords: %d", checks)
	if checks > 100 {
		t.Fatalf("%d bcrypt checks for one address's 500 guesses; back-off should stop most", checks)
	}
	t.Logf("refused without a check: back-off %d, checks busy %d", h.refusedFor("backoff"), h.refusedFor("auth_busy"))
	if h.refusedFor("backoff")+h.refusedFor("auth_busy") == 0 {
		t.Fatal("refusals without a check not counted")
	}
}

// withoutPersonal drops a reading's list of its personal fields, as a
// sender that wants them shown would.
func withoutPersonal(b []byte) []byte {
	var m map[string]any
	json.Unmarshal(b, &m)
	delete(m, "personal")
	out, _ := json.Marshal(m)
	return out
}

// specimens renders n readings seq 1..n from one parse.
func specimens(t testing.TB, box, device string, n int) [][]byte {
	one := specimen(t, box, device, 1)
	var m map[string]any
	json.Unmarshal(one, &m)
	out := make([][]byte, n)
	for i := range out {
		m["seq"] = i + 1
		out[i], _ = json.Marshal(m)
	}
	return out
}

// rawConnect sends an MQTT 3.1.1 CONNECT and returns the CONNACK's code
// (0x100 when no CONNACK came).
func rawConnect(conn net.Conn, id, user, pw string) int {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: id,
			UsernameFlag: true, Username: []byte(user), PasswordFlag: true, Password: []byte(pw)}}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		return 0x100
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := conn.Write(buf.Bytes()); err != nil {
		return 0x100
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil || ack[0] != 0x20 {
		return 0x100
	}
	return int(ack[3])
}

func TestHostileIdleAndSlowConnectsAreDropped(t *testing.T) {
	h := hostileHub(t, func(c *Config) {
		c.Limits.ConnectTimeout = 500 * time.Millisecond
		// All 700 from one address: past the accept rate, so that the
		// deadline and the pending bounds are what drop them.
		c.Limits.ConnectBurst = 1000
	})
	stop := make(chan struct{})
	lb := startLegitBox(t, h, "booth1", stop)
	var conns []net.Conn
	for range 500 { // idle TCP
		c, err := net.Dial("tcp", h.MQTTAddr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for range 200 { // slowloris: a CONNECT one byte at a time
		c, err := net.Dial("tcp", h.MQTTAddr())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte{0x10})
		conns = append(conns, c)
	}
	go func() { // keep trickling
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			for _, c := range conns[500:] {
				c.Write([]byte{0x7f})
			}
		}
	}()
	// Every one is closed by the hub: a read ends.
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("connection %d still open: %v", i, err)
		}
	}
	close(stop)
	lb.report(t, "500 idle TCP + 200 slowloris CONNECTs")
	if h.refusedFor("connect_timeout")+h.refusedFor("pending") < 700 {
		t.Fatalf("dropped connections counted %d+%d, want 700", h.refusedFor("connect_timeout"), h.refusedFor("pending"))
	}
}

func TestHostileCloseWithHalfOpenConnects(t *testing.T) {
	h := newHostileHub(t, nil) // default CONNECT deadline (10 s) is longer than the test waits
	for range 20 {
		c, err := net.Dial("tcp", h.MQTTAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte{0x10})
	}
	// The hub has accepted them all once a box gets through after them.
	boxClient(t, h, "booth1")
	done := make(chan error, 1)
	go func() { done <- h.Close() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked by connections that never sent CONNECT (hubd would ignore SIGTERM)")
	}
}

func TestHostileObserverSessionCap(t *testing.T) {
	h := hostileHub(t, nil)
	url := "tcp://" + h.MQTTAddr()
	admitted := 0
	for i := range 40 {
		if _, err := connect(t, clientOpts{url: url, id: fmt.Sprintf("watch-%d", i), user: "watch", pw: "watchpw"}); err == nil {
			admitted++
		}
	}
	if admitted != DefaultObserverSessions {
		t.Fatalf("one observer credential holds %d sessions, want %d", admitted, DefaultObserverSessions)
	}
	if h.refusedFor("sessions") != int64(40-admitted) {
		t.Fatalf("session refusals counted %d", h.refusedFor("sessions"))
	}
	boxClient(t, h, "booth2") // a box still gets in
}

func TestHostilePublishFloodIsContained(t *testing.T) {
	// A share well below what this hub ingests even under the race
	// detector on a loaded machine, so the flood surely exceeds it.
	h := hostileHub(t, func(c *Config) { c.Limits.Rate, c.Limits.Burst = 30, 60 })
	stop := make(chan struct{})
	lb := startLegitBox(t, h, "booth1", stop)
	flood := boxClient(t, h, "booth2")
	topic := contract.Readings(testCrossing, "booth2", "reader1")
	// 1,100 readings/s for 3 s, QoS 1, not waiting for each PUBACK.
	bodies := specimens(t, "booth2", "reader1", 3300)
	start := time.Now()
	var toks []paho.Token
	tick := time.NewTicker(time.Second / 1100)
	for _, b := range bodies {
		<-tick.C
		toks = append(toks, flood.Publish(topic, 1, false, b))
	}
	tick.Stop()
	close(stop)
	lb.report(t, fmt.Sprintf("booth2 flooding %d readings in 3 s", len(toks)))
	lb.mu.Lock()
	legit := int64(lb.total)
	lb.mu.Unlock()
	flooded := h.Counters().Readings - legit
	elapsed := time.Since(start) // after the count: every token it spent was granted before
	// +1: a legitimate reading may be stored before its PUBACK is counted.
	share := int64(60+30*elapsed.Seconds()) + 1
	t.Logf("flood: booth2 got %d readings stored in %v (its share: at most %d), slowed %d times", flooded, elapsed.Round(time.Millisecond), share, h.refusedFor("rate"))
	if flooded > share {
		t.Fatalf("the flooding box got %d readings in, beyond its share of %d", flooded, share)
	}
}

// A loop of connections from one address — each cheap on its own: a
// CONNECT refused by the back-off, or no CONNECT at all — is refused at
// accept beyond the address's connection rate, and a box on another
// address keeps reconnecting and publishing through it.
func TestHostileConnectionFloodFromOneAddressIsRefusedAtAccept(t *testing.T) {
	h := hostileHub(t, nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var attempts, acked atomic.Int64
	start := time.Now()
	for w := range 16 { // below pending_connects_per_address: that bound never applies
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stopped(stop); i++ {
				conn, err := net.Dial("tcp", h.MQTTAddr()) // from 127.0.0.1
				if err != nil {
					continue
				}
				attempts.Add(1)
				if rawConnect(conn, fmt.Sprintf("flood-%d-%d", w, i), "booth1", "wrong") != 0x100 {
					acked.Add(1) // admitted at accept: the broker read its CONNECT
				}
				conn.Close()
			}
		}()
	}
	// Once the flood is beyond its rate (on a loaded machine its loop may
	// take a while to get there), booth2, from 127.0.0.2, reconnects and
	// publishes ten times through it.
	waitFor(t, "the flood refused at accept", func() bool { return h.refusedFor("accept_rate") > 0 })
	topic := contract.Readings(testCrossing, "booth2", "reader1")
	for i := range 10 {
		opts := paho.NewClientOptions().AddBroker("tcp://" + h.MQTTAddr()).SetClientID(boxID("booth2")).SetUsername("booth2").SetPassword("pw2").
			SetAutoReconnect(false).SetConnectTimeout(20 * time.Second).SetCleanSession(true).SetProtocolVersion(4).SetDialer(loopback(0))
		c := paho.NewClient(opts)
		if tok := c.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("booth2's connection %d during the flood refused: %v", i+1, tok.Error())
		}
		if tok := c.Publish(topic, 1, false, specimen(t, "booth2", "reader1", uint64(i+1))); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
			t.Fatalf("booth2's reading %d during the flood: %v", i+1, tok.Error())
		}
		c.Disconnect(50)
	}
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	// What the bucket grants; +16: a worker's last connection may be
	// admitted as the window closes.
	share := int64(2*DefaultPendingPerAddr) + int64(DefaultConnectRate*elapsed.Seconds()) + 16
	t.Logf("one address: %d connections in %v, %d admitted (its share %d), refused at accept %d", attempts.Load(), elapsed.Round(time.Millisecond), acked.Load(), share, h.refusedFor("accept_rate"))
	if acked.Load() > share {
		t.Fatalf("one address had %d connections admitted in %v, beyond its share of %d", acked.Load(), elapsed.Round(time.Millisecond), share)
	}
	if h.refusedFor("accept_rate") == 0 || !strings.Contains(scrape(t, h), `kordon_hub_mqtt_refused_total{reason="accept_rate"}`) {
		t.Fatal("connections refused at accept not counted in /metrics")
	}
}

// Wrong passwords from 64 addresses get past the per-address back-off and
// accept rate (a few free guesses each), so what bounds them is the check
// slot: a failed check holds it three times its length again, and failing
// checks take at most a quarter of the slot's time.
func TestHostileWrongPasswordsFromManyAddressesTakeAQuarterOfTheChecks(t *testing.T) {
	h := hostileHub(t, func(c *Config) {
		b, _ := bcrypt.GenerateFromPassword([]byte("pw1"), bcrypt.DefaultCost)
		c.Boxes[0].PasswordHash = string(b)
	})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stopped(stop); i++ {
				conn, err := loopback((w+i*32)%64).Dial("tcp", h.MQTTAddr())
				if err != nil {
					continue
				}
				rawConnect(conn, fmt.Sprintf("flood-%d-%d", w, i), "booth1", "wrong")
				conn.Close()
			}
		}()
	}
	time.Sleep(3 * time.Second) // the flood's length, not a synchronisation
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	checks, busy := h.refusedFor("bcrypt_checks"), time.Duration(h.auth.throttle.failedTime.Load())
	t.Logf("64 addresses for %v: %d bcrypt checks taking %v, refused unchecked: back-off %d, busy %d, at accept %d",
		elapsed.Round(time.Millisecond), checks, busy.Round(time.Millisecond), h.refusedFor("backoff"), h.refusedFor("auth_busy"), h.refusedFor("accept_rate"))
	if checks == 0 {
		t.Fatal("no guess was checked")
	}
	// k checks d1..dk, each but the last followed by its pause, fit in the
	// flood: 4(d1+...+dk) - 3dk <= elapsed, so their sum is at most a
	// quarter of it plus 3/4 of the longest.
	longest := time.Duration(h.auth.throttle.failedLongest.Load())
	if most := (elapsed + failedCheckPause*longest) / (1 + failedCheckPause); busy > most {
		t.Fatalf("failed checks took %v of %v, beyond their quarter (%v)", busy.Round(time.Millisecond), elapsed.Round(time.Millisecond), most.Round(time.Millisecond))
	}
}
