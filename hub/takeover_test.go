package hub

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/bcrypt"

	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/logging"
)

// logBuffer is a log destination tests can read while the hub writes,
// with a signal for each write.
type logBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func newLogBuffer() *logBuffer { return &logBuffer{wrote: make(chan struct{}, 1)} }

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case l.wrote <- struct{}{}:
	default:
	}
	return l.buf.Write(p)
}

// waitFor waits until a log line matches re.
func (l *logBuffer) waitFor(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		l.mu.Lock()
		m := re.FindStringSubmatch(l.buf.String())
		l.mu.Unlock()
		if m != nil {
			return m
		}
		select {
		case <-l.wrote:
		case <-deadline:
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Fatalf("no log line matching %s in:\n%s", re, l.buf.String())
		}
	}
}

func hubWithLog(t *testing.T, log *logBuffer) *Hub {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{Crossing: "kz-test", MQTT: "127.0.0.1:0", DataDir: t.TempDir(), Boxes: []BoxCreds{{Box: "booth-1", PasswordHash: string(h)}}}
	return runHub(t, cfg, logging.New(log, slog.LevelDebug))
}

func connectAs(t *testing.T, h *Hub, clientID string, lost chan<- struct{}) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + h.MQTTAddr()).SetClientID(clientID).
		SetUsername("booth-1").SetPassword("pw").SetAutoReconnect(false).
		SetConnectionLostHandler(func(paho.Client, error) {
			if lost != nil {
				close(lost)
			}
		}))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

// Two boxes with one identity: the hub names the box and both remote
// addresses, and counts each takeover.
func TestTakeoverNamesBoxAndBothAddresses(t *testing.T) {
	log := newLogBuffer()
	h := hubWithLog(t, log)
	lost := make(chan struct{})
	connectAs(t, h, "kordon-kz-test-booth-1", lost)
	connectAs(t, h, "kordon-kz-test-booth-1", nil)
	<-lost // the first connection was dropped for the second
	m := log.waitFor(t, regexp.MustCompile(`level=WARN msg="one identity connected from two places[^"]*" part=broker box=booth-1 client=kordon-kz-test-booth-1 old_remote=(127\.0\.0\.1:\d+) new_remote=(127\.0\.0\.1:\d+) takeovers=1`))
	if m[1] == m[2] {
		t.Errorf("old and new remote are the same: %s", m[0])
	}
	rec := httptest.NewRecorder()
	h.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `kordon_hub_session_takeovers_total{identity="booth-1"} 1`) {
		t.Errorf("takeover not counted:\n%s", rec.Body.String())
	}
}

// A connection mochi ends with an error is logged with a message.
func TestBrokerWarningsHaveAMessage(t *testing.T) {
	log := newLogBuffer()
	h := hubWithLog(t, log)
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + h.MQTTAddr()).SetClientID("x").
		SetUsername("booth-1").SetPassword("wrong").SetAutoReconnect(false))
	if tok := c.Connect(); tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
		t.Fatal("wrong password accepted")
	}
	log.waitFor(t, regexp.MustCompile(`level=WARN msg="broker connection ended: [^"]+" part=broker`))
	log.mu.Lock()
	defer log.mu.Unlock()
	if strings.Contains(log.buf.String(), `msg=""`) {
		t.Errorf("a log line without a message:\n%s", log.buf.String())
	}
}

func hubDeviceSeries(body string) []string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "kordon_hub_device_") {
			out = append(out, l[:strings.LastIndexByte(l, ' ')])
		}
	}
	sort.Strings(out)
	return out
}

// A device's changing reason changes values, never the set of series; the
// runtime and build metrics are there.
func TestHubDeviceMetricsKeepTheirSeries(t *testing.T) {
	h := hubWithLog(t, newLogBuffer())
	set := func(state, reason string) string {
		js, _ := json.Marshal(contract.DeviceAvailability{Schema: contract.AvailabilityV1, Box: "booth-1", Device: "reader1", State: state, Reason: reason})
		h.ingest.states.put(contract.Availability("kz-test", "booth-1", "reader1"), "availability", js)
		rec := httptest.NewRecorder()
		h.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	body := set("up", "")
	first := hubDeviceSeries(body)
	if len(first) != 6 {
		t.Fatalf("want up + 5 reasons: %v", first)
	}
	for _, r := range []string{"timeout", "unplugged", "spoofed by someone"} {
		body := set("down", r)
		if got := hubDeviceSeries(body); strings.Join(got, "\n") != strings.Join(first, "\n") {
			t.Fatalf("reason %q changed the series:\n%v", r, got)
		}
		want := r
		if r == "spoofed by someone" {
			want = "other"
		}
		if !strings.Contains(body, `kordon_hub_device_down_reason{box="booth-1",device="reader1",reason="`+want+`"} 1`) {
			t.Errorf("reason %q not shown", r)
		}
	}
	for _, w := range []string{"go_goroutines ", "process_resident_memory_bytes ", `program="hubd"`} {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %q", w)
		}
	}
}
