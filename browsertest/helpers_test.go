package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kordon/kordon/browsertest/chrome"
	"github.com/kordon/kordon/e2e/stationtest"
	"github.com/kordon/kordon/hub/dash"
	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/freeport"
	"github.com/kordon/kordon/internal/gpioline/gpiolinetest"
)

const crossing = stationtest.Crossing

// startHub runs a real hub on loopback with boxes and dashboard users
// (user -> role; the password is the user name + "pw").
func startHub(t *testing.T, boxes map[string]string, users map[string]string) *stationtest.Hub {
	t.Helper()
	cfg := stationtest.HubConfig(t, boxes)
	cfg.Users = nil
	for u, role := range users {
		cfg.Users = append(cfg.Users, dash.User{User: u, Name: u, Role: role, PasswordHash: stationtest.Hash(t, u+"pw")})
	}
	return stationtest.RunHub(t, cfg, nil)
}

// ptyDevice opens a pseudo-terminal and returns its path and a function
// that plays tr into it.
func ptyDevice(t *testing.T, tr *trace.Trace, loop bool) (string, func(ctx context.Context)) {
	t.Helper()
	d := stationtest.NewDevice(t, tr)
	return d.Path, func(ctx context.Context) { d.Play(ctx, replay.Options{Loop: loop}) }
}

func readTrace(t *testing.T, path string) *trace.Trace {
	t.Helper()
	tr, err := trace.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

type dev struct {
	id, driver, path string
	options          map[string]any
}

// freePort finds a loopback port for edged's HTTP listener (edged takes an
// address, not a listener).
func freePort(t *testing.T) string {
	t.Helper()
	port, err := freeport.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// startBox runs a real edged in-process; its booth readout is on the
// returned address (the readout's own listener).
func startBox(t *testing.T, ctx context.Context, hubAddr, box, password string, clearAfter string, devs ...dev) string {
	t.Helper()
	httpAddr, screenAddr := freePort(t), freePort(t)
	var devices strings.Builder
	for _, d := range devs {
		opts, _ := json.Marshal(d.options)
		transport := fmt.Sprintf("{type: serial, path: %s, baud: 9600}", d.path)
		if d.driver == "cctv" {
			transport = "{type: gpio}"
		}
		fmt.Fprintf(&devices, "  - id: %s\n    driver: %s\n    transport: %s\n    options: %s\n", d.id, d.driver, transport, opts)
	}
	// CCTV outputs drive periph.io's fake pins: the box has no GPIO here.
	stationtest.Box{ID: box, Password: password, Broker: hubAddr, Devices: devices.String(), Pins: gpiolinetest.New("GPIO17"),
		Extra: fmt.Sprintf("http: %q\nbooth: {clear_after: %s, lang: ru, title: %q, listen: %q}", httpAddr, clearAfter, box, screenAddr),
	}.Start(t, ctx)
	waitHTTP(t, "http://"+httpAddr+"/healthz")
	waitHTTP(t, "http://"+screenAddr+"/booth/state")
	return "http://" + screenAddr // the booth readout's own (loopback) listener
}

// waitHTTP is a readiness probe: edged opens its listener in a goroutine
// and has no event to wait on from outside.
func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for backoff := time.Millisecond; ; backoff = min(backoff*2, 100*time.Millisecond) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not up: %v", url, err)
		}
		time.Sleep(backoff)
	}
}

// browser starts headless chromium (browser language ru-RU); each returned
// tab factory gives an isolated viewer (its own cookies).
func browser(t *testing.T, ctx context.Context) func() context.Context {
	t.Helper()
	return chrome.Start(t, ctx, chrome.Options{Width: 1600, Height: 1000, Lang: "ru-RU"})
}

// artifact saves a screenshot under test-artifacts/ at the repository root.
func artifact(t *testing.T, name string, png []byte) {
	t.Helper()
	dir := filepath.Join("..", "test-artifacts", "browser")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	// Each step has its own deadline inside the test's, so a step that
	// times out still leaves time for the screenshot of what was on screen.
	// The tab is opened first under ctx itself: chromedp ties a tab to the
	// context of the first Run on it, and the step's context ends.
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("%s: open tab: %v", what, err)
	}
	step, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	if err := chromedp.Run(step, actions...); err != nil {
		var png []byte
		shot, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if chromedp.Run(shot, chromedp.FullScreenshot(&png, 100)) == nil {
			artifact(t, strings.ReplaceAll(t.Name(), "/", "_")+"-failed.png", png)
		}
		t.Fatalf("%s: %v", what, err)
	}
}
