package hub

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/bcrypt"

	"github.com/kordon/kordon/drivers/passport/mrz"
	"github.com/kordon/kordon/hub/dash"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/logging/loggingtest"
	"github.com/kordon/kordon/internal/reading"
)

// Tests for the ways the hub lost data (each failed before its fix).

// logWatch lets a test wait on the hub's own account of an event.
type logWatch = loggingtest.Watch

func newLogWatch() *logWatch { return loggingtest.NewWatch() }

func lossHub(t *testing.T, lw *logWatch) *Hub {
	t.Helper()
	if lw == nil {
		lw = newLogWatch()
	}
	hb, _ := bcrypt.GenerateFromPassword([]byte("pw1"), bcrypt.MinCost)
	su, _ := bcrypt.GenerateFromPassword([]byte("super1pw"), bcrypt.MinCost)
	cfg := &Config{Crossing: testCrossing, MQTT: "127.0.0.1:0", HTTP: "127.0.0.1:0", DataDir: t.TempDir(),
		Boxes: []BoxCreds{{Box: "booth1", PasswordHash: string(hb)}},
		Users: []dash.User{{User: "super1", Role: "supervisor", PasswordHash: string(su)}}}
	return runHub(t, cfg, slog.New(lw))
}

func mustPublish(t *testing.T, c paho.Client, topic string, body []byte) {
	t.Helper()
	tok := c.Publish(topic, 1, false, body)
	if !tok.WaitTimeout(20 * time.Second) {
		t.Fatal("no PUBACK")
	}
	if tok.Error() != nil {
		t.Fatal(tok.Error())
	}
}

// badDocument is a document reading whose check digit fails: the default
// rule document-check-failed raises an alert for it.
func badDocument(t *testing.T, incarnation string, seq uint64) []byte {
	t.Helper()
	doc, err := mrz.Parse([]string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C37UTO7408122F1204159ZE184226B<<<<<10"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := reading.Reading{Crossing: testCrossing, Box: "booth1", Device: "reader1", Driver: "mrz", Incarnation: incarnation, Seq: seq,
		Origin: time.Now(), Clock: reading.ClockSynced, Quality: reading.Quality{Status: reading.OK}, Payload: doc}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func countRows(t *testing.T, h *Hub, q string, args ...any) int {
	t.Helper()
	var n int
	if err := h.store.db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAlertSurvivesFailedAlertInsert: the alert insert fails once (a
// trigger refuses it); the box gets no PUBACK and sends the reading again;
// the resend must raise the alert. Before, the reading was stored alone,
// the resend was a duplicate and the alert never existed.
func TestAlertSurvivesFailedAlertInsert(t *testing.T) {
	lw := newLogWatch()
	h := lossHub(t, lw)
	if _, err := h.store.db.Exec(`CREATE TRIGGER fail_alert BEFORE INSERT ON alerts BEGIN SELECT RAISE(ABORT, 'injected failure'); END`); err != nil {
		t.Fatal(err)
	}
	failed := lw.On("box will resend")
	body := badDocument(t, "", 1)
	topic := contract.Readings(testCrossing, "booth1", "reader1")
	c := boxClient(t, h, "booth1")
	c.Publish(topic, 1, false, body) // not acknowledged: the hub refuses it
	select {
	case <-failed:
	case <-time.After(20 * time.Second):
		t.Fatal("the hub never reported the failed store")
	}
	c.Disconnect(0)
	if _, err := h.store.db.Exec(`DROP TRIGGER fail_alert`); err != nil {
		t.Fatal(err)
	}
	// The box sends it again on a new session, as edged does.
	mustPublish(t, boxClient(t, h, "booth1"), topic, body)
	if n := countRows(t, h, `SELECT COUNT(*) FROM alerts WHERE rule = 'document-check-failed'`); n != 1 {
		t.Fatalf("%d document-check-failed alerts after the resend, want 1", n)
	}
	if n := countRows(t, h, `SELECT COUNT(*) FROM readings`); n != 1 {
		t.Fatalf("%d readings stored, want 1", n)
	}
}

// TestReprovisionedBoxStoredAndAlerted: a box whose state was erased
// starts its sequence again at 1 under a new incarnation; its readings are
// new readings, not duplicates of the old life's.
func TestReprovisionedBoxStoredAndAlerted(t *testing.T) {
	h := lossHub(t, nil)
	c := boxClient(t, h, "booth1")
	topic := contract.Readings(testCrossing, "booth1", "reader1")
	for _, inc := range []string{"aaaaaaaa11111111", "bbbbbbbb22222222"} {
		for seq := uint64(1); seq <= 3; seq++ {
			mustPublish(t, c, topic, badDocument(t, inc, seq))
		}
	}
	if n := countRows(t, h, `SELECT COUNT(*) FROM readings WHERE kind = 'document' AND quality = 'ok'`); n != 6 {
		t.Fatalf("%d readings stored from two lives of 3, want 6", n)
	}
	if n := countRows(t, h, `SELECT COUNT(*) FROM alerts WHERE rule = 'document-check-failed'`); n != 6 {
		t.Fatalf("%d alerts, want 6", n)
	}
	if n := countRows(t, h, `SELECT COUNT(*) FROM incarnations WHERE box = 'booth1'`); n != 2 {
		t.Fatalf("%d incarnations recorded, want 2", n)
	}
	if m := scrape(t, h); !strings.Contains(m, `kordon_hub_box_incarnations_total{box="booth1"} 2`) {
		t.Fatalf("incarnations not in /metrics:\n%s", m)
	}
}

// TestV1AndV2ReadingsOfOneDeviceBothKept: during an upgrade a box sends v1
// readings, then v2 ones starting again at 1; none is a duplicate.
func TestV1AndV2ReadingsOfOneDeviceBothKept(t *testing.T) {
	h := lossHub(t, nil)
	c := boxClient(t, h, "booth1")
	topic := contract.Readings(testCrossing, "booth1", "reader1")
	mustPublish(t, c, topic, badDocument(t, "", 1))
	mustPublish(t, c, topic, badDocument(t, "", 1)) // a redelivery
	mustPublish(t, c, topic, badDocument(t, "cccccccc33333333", 1))
	if n := countRows(t, h, `SELECT COUNT(*) FROM readings`); n != 2 {
		t.Fatalf("%d readings, want 2 (v1 seq 1 once, v2 seq 1)", n)
	}
	if got := h.Counters().Duplicates; got != 1 {
		t.Fatalf("%d duplicates, want 1", got)
	}
}

// TestRefusedReadingIsAccountedFor: a reading the schema refuses (a reason
// over 512 bytes) is recorded as refused, and its number is not asked for
// again. Before, the hub asked for it every 3 s for ever.
func TestRefusedReadingIsAccountedFor(t *testing.T) {
	h := lossHub(t, nil)
	c := boxClient(t, h, "booth1")
	topic := contract.Readings(testCrossing, "booth1", "reader1")
	mustPublish(t, c, topic, specimen(t, "booth1", "reader1", 1))
	var m map[string]any
	json.Unmarshal(specimen(t, "booth1", "reader1", 2), &m)
	m["quality"] = map[string]any{"status": "bad", "reason": strings.Repeat("x", 600)}
	bad, _ := json.Marshal(m)
	mustPublish(t, c, topic, bad)
	mustPublish(t, c, topic, specimen(t, "booth1", "reader1", 3))
	waitFor(t, "sequence contiguous to 3", func() bool { return h.gaps.contiguousOf("booth1", "", "reader1") == 3 })
	if got := h.gaps.requests.Load(); got != 0 {
		t.Fatalf("%d resend requests for a refused reading, want 0", got)
	}
	var reason string
	var size int
	if err := h.store.db.QueryRow(`SELECT reason, size FROM refused WHERE box='booth1' AND device='reader1' AND seq=2`).Scan(&reason, &size); err != nil {
		t.Fatalf("refused reading not recorded: %v", err)
	}
	if reason != "schema" || size != len(bad) {
		t.Fatalf("refused record %q %d, want schema %d", reason, size, len(bad))
	}
	if m := scrape(t, h); !strings.Contains(m, `kordon_hub_readings_refused_total{box="booth1",reason="schema"} 1`) {
		t.Fatalf("refused reading not in /metrics:\n%s", m)
	}
}

// TestPersonalFromSchemaNotSender: a document reading sent without its
// "personal" list must not show the number or the name on any open surface.
func TestPersonalFromSchemaNotSender(t *testing.T) {
	h := lossHub(t, nil)
	live, cancel := h.live.subscribe()
	defer cancel()
	c := boxClient(t, h, "booth1")
	var m map[string]any
	json.Unmarshal(specimen(t, "booth1", "reader1", 1), &m)
	delete(m, "personal")
	body, _ := json.Marshal(m)
	mustPublish(t, c, contract.Readings(testCrossing, "booth1", "reader1"), body)
	leaks := func(where string, b []byte) {
		t.Helper()
		for _, s := range []string{"L898902C3", "ERIKSSON", "740812"} {
			if strings.Contains(string(b), s) {
				t.Errorf("%s shows %q: %s", where, s, b)
			}
		}
	}
	for e := range live {
		if e.Name == "reading" {
			leaks("live event", e.Data)
			break
		}
	}
	// Even a logged-in supervisor's /api/readings withholds personal data.
	req, _ := http.NewRequest("GET", "http://"+h.HTTPAddr()+"/api/readings", nil)
	req.SetBasicAuth("super1", "super1pw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "reader1") {
		t.Fatalf("/api/readings has no reading: %s", b)
	}
	leaks("/api/readings", b)
}

// TestAlertIDsDifferAcrossCrossings: the same box, device, seq and rule at
// two crossings (or in two lives of a box) are two alerts, and the watchlist's
// ids follow the same derivation.
func TestAlertIDsDifferAcrossCrossings(t *testing.T) {
	ref := contract.ReadingRef{Box: "booth-01", Device: "reader1", Seq: 7}
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	a, b := alertID("kordai", "fever", []contract.ReadingRef{ref}, at), alertID("ak-zhol", "fever", []contract.ReadingRef{ref}, at)
	ref.Incarnation = "aaaaaaaa11111111"
	c := alertID("kordai", "fever", []contract.ReadingRef{ref}, at)
	if a == b || a == c {
		t.Fatalf("alert ids collide: %s %s %s", a, b, c)
	}
}

// TestAlertIDsFollowOrigin: a redelivered reading gives the same id, and a
// later reading's alert sorts after an earlier one's (the alerts' key
// appends), whatever the hash.
func TestAlertIDsFollowOrigin(t *testing.T) {
	ref := contract.ReadingRef{Box: "booth-01", Device: "reader1", Seq: 7}
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	if a, b := alertID("kordai", "fever", []contract.ReadingRef{ref}, at), alertID("kordai", "fever", []contract.ReadingRef{ref}, at); a != b {
		t.Fatalf("one reading, two ids: %s %s", a, b)
	}
	prev := ""
	for i := range 1000 {
		ref.Seq = uint64(1000 - i) // the hash part in no particular order
		id := alertID("kordai", "fever", []contract.ReadingRef{ref}, at.Add(time.Duration(i)*time.Millisecond))
		if id <= prev {
			t.Fatalf("alert %d's id %s sorts before the one before it, %s", i, id, prev)
		}
		prev = id
	}
	for _, odd := range []time.Time{{}, time.Unix(-1, 0), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)} {
		if id := alertID("kordai", "fever", []contract.ReadingRef{ref}, odd); len(id) != 32 {
			t.Fatalf("origin %v: id %q is not 32 characters", odd, id)
		}
	}
}

// TestBoxLossReachesHealthAndMetrics: what a box says it could not keep
// (state loss, incarnation, device counters) and what the hub refused of
// it reach the dashboard's box health and /metrics.
func TestBoxLossReachesHealthAndMetrics(t *testing.T) {
	h := lossHub(t, nil)
	c := boxClient(t, h, "booth1")
	inc := "dddddddd44444444"
	st, _ := json.Marshal(contract.State{Schema: contract.StateV1, Crossing: testCrossing, Box: "booth1", State: "online", Time: time.Now().UTC(),
		Incarnation: inc, Loss: &contract.Loss{Dropped: map[string]int64{"disk full": 3}, Refused: 1, Full: true},
		Counters: map[string]map[string]int64{"thermo1": {"noise": 5}}})
	mustPublish(t, c, contract.BoxState(testCrossing, "booth1"), st)
	var m map[string]any
	json.Unmarshal(specimen(t, "booth1", "reader1", 1), &m)
	m["quality"] = map[string]any{"status": "bad", "reason": strings.Repeat("x", 600)}
	bad, _ := json.Marshal(m)
	mustPublish(t, c, contract.Readings(testCrossing, "booth1", "reader1"), bad)

	v := logIn(t, h, "super1", "super1pw")
	var health struct {
		Boxes []struct {
			Box          string
			Incarnation  string
			Incarnations []struct{ ID string }
			Loss         *contract.Loss
			Refused      map[string]int64
			Devices      []struct {
				Device   string
				Counters map[string]int64
			}
		}
	}
	if code := v.get("/dash/api/health", &health); code != 200 {
		t.Fatalf("health: HTTP %d", code)
	}
	if len(health.Boxes) != 1 {
		t.Fatalf("health %+v", health)
	}
	b := health.Boxes[0]
	if b.Incarnation != inc || len(b.Incarnations) != 1 || b.Incarnations[0].ID != inc {
		t.Errorf("incarnation %q %+v, want %s recorded", b.Incarnation, b.Incarnations, inc)
	}
	if b.Loss == nil || b.Loss.Dropped["disk full"] != 3 || !b.Loss.Full || b.Refused["schema"] != 1 {
		t.Errorf("loss %+v refused %v", b.Loss, b.Refused)
	}
	var noise int64
	for _, d := range b.Devices {
		if d.Device == "thermo1" {
			noise = d.Counters["noise"]
		}
	}
	if noise != 5 {
		t.Errorf("device counters %+v", b.Devices)
	}
	metrics := scrape(t, h)
	for _, want := range []string{
		`kordon_hub_box_readings_dropped{box="booth1",reason="disk full"} 3`,
		`kordon_hub_box_outbox_full{box="booth1"} 1`,
		`kordon_hub_device_counter{box="booth1",counter="noise",device="thermo1"} 5`,
		`kordon_hub_box_incarnation{box="booth1",incarnation="` + inc + `"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestQoS2ReadingStored: a box publishing at QoS 2 gets mochi's own
// PUBREC/PUBCOMP exchange, after the commit.
func TestQoS2ReadingStored(t *testing.T) {
	h := lossHub(t, nil)
	c := boxClient(t, h, "booth1")
	tok := c.Publish(contract.Readings(testCrossing, "booth1", "reader1"), 2, false, badDocument(t, "", 1))
	if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("QoS 2 publish: %v", tok.Error())
	}
	if n := countRows(t, h, `SELECT COUNT(*) FROM alerts`); n != 1 {
		t.Fatalf("%d alerts after a QoS 2 reading, want 1", n)
	}
}

// TestNewIncarnationEndsTheOldOnesHoles: a hole left in a box life that
// ended can never be filled; it is recorded lost, and a late reading of the
// old life does not end the new one.
func TestNewIncarnationEndsTheOldOnesHoles(t *testing.T) {
	h := lossHub(t, nil)
	c := boxClient(t, h, "booth1")
	topic := contract.Readings(testCrossing, "booth1", "reader1")
	a, b := "aaaaaaaa55555555", "bbbbbbbb66666666"
	mustPublish(t, c, topic, badDocument(t, a, 1))
	mustPublish(t, c, topic, badDocument(t, a, 3)) // 2 is missing
	mustPublish(t, c, topic, badDocument(t, b, 1))
	mustPublish(t, c, topic, badDocument(t, b, 2))
	mustPublish(t, c, topic, badDocument(t, a, 5)) // late, from the old life
	mustPublish(t, c, topic, badDocument(t, b, 3))
	lost, err := h.LostReadings()
	if err != nil {
		t.Fatal(err)
	}
	if len(lost) != 1 || lost[0].Incarnation != a || lost[0].First != 2 || lost[0].Last != 2 || lost[0].Reason != "box began a new incarnation" {
		t.Fatalf("lost %+v, want %s 2-2 recorded for the ended life", lost, a)
	}
	if got := h.gaps.contiguousOf("booth1", b, "reader1"); got != 3 {
		t.Fatalf("new life's mark %d, want 3", got)
	}
}
