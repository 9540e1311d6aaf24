package edge

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/freeport"
	"github.com/kordon/kordon/internal/logging/loggingtest"
)

// TestStatusPageComesUpOnceItsAddressIsFree: an installer's status page
// whose address another process holds (the edged being replaced, still
// exiting) says so, and comes up once the address is free, without a
// restart. Before, edged logged the failure once and ran without a page.
func TestStatusPageComesUpOnceItsAddressIsFree(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	boothPort, err := freeport.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	drv := device.Driver{Name: "burst", Kind: "burst", Ports: []device.PortKind{device.Pin}, New: func(device.Config) (device.Device, error) {
		return &emitThenWait{done: make(chan struct{})}, nil
	}}
	src := fmt.Sprintf(`crossing: kz-t
box: b1
state_dir: %s
http: %q
booth: {listen: "127.0.0.1:%d"}
hub: {address: "tcp://127.0.0.1:1", username: b1, password: x}
devices:
  - {id: d1, driver: burst, transport: {type: gpio}}
`, t.TempDir(), held.Addr().String(), boothPort)
	cfg, devs, err := ParseConfig("t.yaml", []byte(src), []device.Driver{drv})
	if err != nil {
		t.Fatal(err)
	}
	w := loggingtest.NewWatch()
	refused, listening := w.On("status page not listening"), w.On("status page listening")
	box, err := New(cfg, devs, []device.Driver{drv}, slog.New(w))
	if err != nil {
		t.Fatal(err)
	}
	box.listenRetry = time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { box.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	select {
	case <-refused:
	case <-time.After(20 * time.Second):
		t.Fatal("edged never said its status page could not listen")
	}
	held.Close()
	select {
	case <-listening:
	case <-time.After(20 * time.Second):
		t.Fatal("the status page never came up once its address was free")
	}
	resp, err := http.Get("http://" + cfg.HTTP + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz = %d", resp.StatusCode)
	}
}
