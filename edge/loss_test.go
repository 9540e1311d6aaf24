package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/kordon/kordon/drivers"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/logging"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/schema"
)

// burstDoc is a protected payload (compact records: ~35 B on disk each) (a document-like kind the outbox must not drop).
type burstDoc struct {
	N int `json:"n"`
}

func (burstDoc) Kind() string { return "burst" }

// burstSchema is the box's validator with a schema for the test kind.
func burstSchema(t *testing.T) *schema.Validator {
	t.Helper()
	p := drivers.PayloadSchemas()
	p["burst"] = []byte(`{"type":"object","required":["n"],"properties":{"n":{"type":"integer","maximum":1000000}},"additionalProperties":false}`)
	v, err := schema.New(p)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// emitThenWait emits n readings, says so, and waits for the end.
type emitThenWait struct {
	n    int
	done chan struct{}
}

func (e *emitThenWait) Run(ctx context.Context, out device.Output) error {
	out.Up()
	for i := 0; i < e.n; i++ {
		out.Emit(reading.Reading{Payload: burstDoc{N: i}})
	}
	close(e.done)
	<-ctx.Done()
	return nil
}

// TestLossShowsInBoxState: when the outbox is full of readings it may not
// drop, a refused reading is counted and the box state says so.
func TestLossShowsInBoxState(t *testing.T) {
	emitted := make(chan struct{})
	drv := device.Driver{Name: "burst", Kind: "burst", Ports: []device.PortKind{device.Pin}, New: func(device.Config) (device.Device, error) {
		return &emitThenWait{n: 2000, done: emitted}, nil
	}}
	src := fmt.Sprintf(`crossing: kz-t
box: b1
state_dir: %s
hub: {address: "tcp://127.0.0.1:1", username: b1, password: x}
outbox: {max_bytes: 16384, segment_bytes: 4096}
devices:
  - {id: d1, driver: burst, transport: {type: gpio}}
`, t.TempDir())
	cfg, devs, err := ParseConfig("t.yaml", []byte(src), []device.Driver{drv})
	if err != nil {
		t.Fatal(err)
	}
	box, err := New(cfg, devs, []device.Driver{drv}, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	box.valid = burstSchema(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { box.Run(ctx); close(done) }()
	<-emitted
	st := box.state("online")
	cancel()
	<-done
	if st.Loss == nil || st.Loss.Refused == 0 || !st.Loss.Full {
		t.Fatalf("box state does not show the loss: %+v", st.Loss)
	}
	if st.Loss.Refused+int64(box.Status().LastSeq["d1"]) != 2000 {
		t.Errorf("refused %d + taken %d != 2000 emitted", st.Loss.Refused, box.Status().LastSeq["d1"])
	}
	v, err := schema.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(st)
	if err := v.Validate(b); err != nil {
		t.Errorf("state with loss does not validate: %v", err)
	}
}
