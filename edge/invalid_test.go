package edge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/common/expfmt"

	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/logging"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/schema"
)

// feverText is a temperature payload that breaks its schema twice: an
// unknown field (carrying text a device sent) and a missing "cause".
type feverText struct {
	Sensor string   `json:"sensor"`
	Model  string   `json:"model"`
	Fever  bool     `json:"fever"`
	Events []string `json:"events"`
	Note   string   `json:"note"`
}

func (feverText) Kind() string { return "temperature" }

type goodTemp struct {
	Sensor string   `json:"sensor"`
	Model  string   `json:"model"`
	Fever  bool     `json:"fever"`
	Events []string `json:"events"`
	Cause  string   `json:"cause"`
}

func (goodTemp) Kind() string { return "temperature" }

// emitList emits its readings, keeping what each Emit returned, counts
// some noise, then waits.
type emitList struct {
	rs   []reading.Reading
	errs []error
	done chan struct{}
}

func (e *emitList) Run(ctx context.Context, out device.Output) error {
	out.Up()
	for _, r := range e.rs {
		e.errs = append(e.errs, out.Emit(r))
	}
	out.Count("noise_bytes", 17)
	close(e.done)
	<-ctx.Done()
	return nil
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startBox(t *testing.T, log *slog.Logger, rs ...reading.Reading) (*Box, func()) {
	t.Helper()
	return startBoxIn(t, t.TempDir(), log, nil, rs...)
}

// startBoxIn runs a box on stateDir whose one device emits rs; valid, when
// set, replaces the box's validator (test kinds).
func startBoxIn(t *testing.T, stateDir string, log *slog.Logger, valid *schema.Validator, rs ...reading.Reading) (*Box, func()) {
	t.Helper()
	box, _, stop := startBoxEmits(t, stateDir, log, valid, rs...)
	return box, stop
}

// startBoxEmits is startBoxIn that also returns what each Emit returned to
// the device.
func startBoxEmits(t *testing.T, stateDir string, log *slog.Logger, valid *schema.Validator, rs ...reading.Reading) (*Box, []error, func()) {
	t.Helper()
	emitted := make(chan struct{})
	var dev *emitList
	drv := device.Driver{Name: "list", Kind: "temperature", Ports: []device.PortKind{device.Pin}, New: func(device.Config) (device.Device, error) {
		dev = &emitList{rs: rs, done: emitted}
		return dev, nil
	}}
	src := fmt.Sprintf(`crossing: kz-t
box: b1
state_dir: %s
hub: {address: "tcp://127.0.0.1:1", username: b1, password: x}
devices:
  - {id: t1, driver: list, transport: {type: gpio}}
`, stateDir)
	cfg, devs, err := ParseConfig("t.yaml", []byte(src), []device.Driver{drv})
	if err != nil {
		t.Fatal(err)
	}
	box, err := New(cfg, devs, []device.Driver{drv}, log)
	if err != nil {
		t.Fatal(err)
	}
	if valid != nil {
		box.valid = valid
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { box.Run(ctx); close(done) }()
	<-emitted
	return box, dev.errs, func() { cancel(); <-done }
}

// TestInvalidReadingIsNotTaken: a reading that fails its kind's schema is
// never taken (the hub would refuse it and the box resend it for ever); it
// is counted as lost "invalid" in /status, /metrics and the box state, and
// logged without its values. Device counters reach the box state.
func TestInvalidReadingIsNotTaken(t *testing.T) {
	var logs syncBuf
	bad := reading.Reading{Payload: feverText{Sensor: "lane-1", Model: "m", Events: []string{}, Note: "L898902C36UTO7408122"}}
	good := reading.Reading{Payload: goodTemp{Sensor: "lane-1", Model: "m", Events: []string{}, Cause: "first"}}
	box, errs, stop := startBoxEmits(t, t.TempDir(), logging.New(&logs, slog.LevelInfo), nil, bad, good)
	defer stop()

	if got := box.Status().LastSeq["t1"]; got != 1 {
		t.Fatalf("readings taken %d, want 1 (the valid one)", got)
	}
	// The driver is told: the invalid one lost with its reason, the valid one kept.
	var lost *device.Lost
	if len(errs) != 2 || !errors.As(errs[0], &lost) || lost.Reason != "invalid" || errs[1] != nil {
		t.Fatalf("Emit returned %v, want [lost (invalid), nil]", errs)
	}
	if n := box.Status().Outbox.Dropped["invalid"]; n != 1 {
		t.Fatalf("/status dropped.invalid = %d, want 1", n)
	}
	st := box.state("online")
	if st.Loss == nil || st.Loss.Dropped["invalid"] != 1 {
		t.Fatalf("box state loss %+v", st.Loss)
	}
	if st.Incarnation == "" || st.Incarnation != box.Status().Outbox.Incarnation {
		t.Fatalf("box state incarnation %q", st.Incarnation)
	}
	if st.Counters["t1"]["noise_bytes"] != 17 {
		t.Fatalf("box state counters %v", st.Counters)
	}
	rec := httptest.NewRecorder()
	box.metricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	m, _ := io.ReadAll(rec.Body)
	if !strings.Contains(string(m), `kordon_edge_readings_dropped_total{reason="invalid"} 1`) {
		t.Fatalf("/metrics lacks the invalid reading:\n%s", m)
	}
	if !strings.Contains(string(m), `kordon_edge_incarnation_info{incarnation="`+st.Incarnation+`",reason="new"} 1`) {
		t.Fatalf("/metrics lacks the incarnation")
	}
	// What a Prometheus server reads: the library's own parser accepts it.
	var parser expfmt.TextParser
	if fams, err := parser.TextToMetricFamilies(bytes.NewReader(m)); err != nil || len(fams) < 10 {
		t.Fatalf("/metrics is not valid text exposition (%d families): %v", len(fams), err)
	}
	l := logs.String()
	if !strings.Contains(l, "fails its schema") || strings.Contains(l, "L898902C36") {
		t.Fatalf("log must name the failure and not the value:\n%s", l)
	}
}
