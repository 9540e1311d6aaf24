package edge

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/kordon/kordon/drivers"
	"github.com/kordon/kordon/edge/outbox"
	"github.com/kordon/kordon/internal/logging"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/schema"
)

// padded is a protected test reading of about 1 KiB.
type padded struct {
	N   int    `json:"n"`
	Pad string `json:"pad"`
}

func (padded) Kind() string { return "temperature" }

func paddedSchema(t *testing.T) *schema.Validator {
	t.Helper()
	p := drivers.PayloadSchemas()
	p["temperature"] = []byte(`{"type":"object","required":["n"],"properties":{"n":{"type":"integer"},"pad":{"type":"string"}}}`)
	v, err := schema.New(p)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func readings(n int) []reading.Reading {
	rs := make([]reading.Reading, n)
	for i := range rs {
		rs[i] = reading.Reading{Payload: padded{N: i, Pad: strings.Repeat("x", 1000)}}
	}
	return rs
}

// taken reads what the box's outbox holds, as the publisher would send it.
func takenEnvelopes(t *testing.T, dir string) []map[string]any {
	t.Helper()
	o, err := outbox.Open(dir, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	var out []map[string]any
	for {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		r, err := o.Next(ctx)
		if err != nil {
			return out
		}
		var m map[string]any
		if err := json.Unmarshal(r.JSON, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
}

// TestReprovisionedBox: a box whose state dir was erased (kordon-install,
// a new card) takes its readings under a new incarnation, seq from 1, and
// every reading carries it, as the box state does.
func TestReprovisionedBox(t *testing.T) {
	dir := t.TempDir()
	box, stop := startBoxIn(t, dir, logging.Discard(), paddedSchema(t), readings(3)...)
	first := box.state("online").Incarnation
	stop()
	os.RemoveAll(dir)
	box, stop = startBoxIn(t, dir, logging.Discard(), paddedSchema(t), readings(2)...)
	second := box.state("online").Incarnation
	stop()
	if first == "" || second == "" || first == second {
		t.Fatalf("incarnations %q then %q", first, second)
	}
	envs := takenEnvelopes(t, dir)
	if len(envs) != 2 {
		t.Fatalf("%d readings after re-provisioning, want 2", len(envs))
	}
	for i, e := range envs {
		if e["incarnation"] != second || e["seq"] != float64(i+1) || e["schema"] != reading.SchemaV2 {
			t.Fatalf("reading %d: schema %v incarnation %v seq %v", i, e["schema"], e["incarnation"], e["seq"])
		}
	}
}

// TestDiskFullShowsInBoxState: the default outbox on a 2 MiB disk: every
// reading is either taken or counted lost "disk_full", in /status,
// /metrics and the box state.
func TestDiskFullShowsInBoxState(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=2m"); err != nil {
		t.Skipf("cannot mount a 2 MiB tmpfs as the state dir (needs root): %v", err)
	}
	defer syscall.Unmount(dir, 0)
	const n = 3000
	box, stop := startBoxIn(t, dir, logging.Discard(), paddedSchema(t), readings(n)...)
	defer stop()
	st := box.Status()
	full := st.Outbox.Dropped[outbox.LostDiskFull]
	if full == 0 || int64(st.LastSeq["t1"])+full != n {
		t.Fatalf("taken %d + disk_full %d != %d emitted", st.LastSeq["t1"], full, n)
	}
	if s := box.state("online"); s.Loss == nil || s.Loss.Dropped["disk_full"] != full {
		t.Fatalf("box state loss %+v", s.Loss)
	}
	rec := httptest.NewRecorder()
	box.metricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	m, _ := io.ReadAll(rec.Body)
	if !strings.Contains(string(m), `kordon_edge_readings_dropped_total{reason="disk_full"} `) || !strings.Contains(string(m), "kordon_edge_outbox_disk_full 1") {
		t.Fatalf("/metrics lacks the disk-full loss")
	}
}
