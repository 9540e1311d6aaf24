package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/kordon/kordon/drivers/all"
	"github.com/kordon/kordon/edge"
	"github.com/kordon/kordon/hub"
	"github.com/kordon/kordon/hub/dash"
	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/gpioline"
	"github.com/kordon/kordon/internal/logging"
)

const crossing = "kz-test"

const chromium = "/usr/bin/chromium"

func hash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost) // MinCost: fast tests
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// startHub runs a real hub on loopback with boxes and dashboard users
// (user -> role; the password is the user name + "pw").
func startHub(t *testing.T, boxes map[string]string, users map[string]string) *runningHub {
	t.Helper()
	cfg := &hub.Config{Crossing: crossing, MQTT: "127.0.0.1:0", HTTP: "127.0.0.1:0", DataDir: t.TempDir()}
	for b, pw := range boxes {
		cfg.Boxes = append(cfg.Boxes, hub.BoxCreds{Box: b, PasswordHash: hash(t, pw)})
	}
	for u, role := range users {
		cfg.Users = append(cfg.Users, dash.User{User: u, Name: u, Role: role, PasswordHash: hash(t, u+"pw")})
	}
	h, err := hub.New(cfg, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	rh := &runningHub{Hub: h}
	t.Cleanup(rh.Stop)
	return rh
}

// runningHub is a hub a test may stop early (the hub gone from under a box).
type runningHub struct {
	*hub.Hub
	once sync.Once
}

func (h *runningHub) Stop() { h.once.Do(func() { h.Hub.Close() }) }

// ptyDevice opens a pseudo-terminal and returns its path and a function
// that plays tr into it.
func ptyDevice(t *testing.T, tr *trace.Trace, loop bool) (string, func(ctx context.Context)) {
	t.Helper()
	p, err := replay.OpenPTY(filepath.Join(t.TempDir(), "tty"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p.Path, func(ctx context.Context) {
		go replay.Serial(ctx, tr, p.Device, replay.Options{Loop: loop})
	}
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// startBox runs a real edged in-process; its booth readout is on the
// returned address (the readout's own listener).
func startBox(t *testing.T, ctx context.Context, hubAddr, box, password string, clearAfter string, devs ...dev) string {
	t.Helper()
	httpAddr, screenAddr := freePort(t), freePort(t)
	var b strings.Builder
	fmt.Fprintf(&b, "crossing: %s\nbox: %s\nstate_dir: %s\nhttp: %q\n", crossing, box, t.TempDir(), httpAddr)
	fmt.Fprintf(&b, "hub: {address: %q, username: %s, password: %s}\n", hubAddr, box, password)
	fmt.Fprintf(&b, "booth: {clear_after: %s, lang: ru, title: %q, listen: %q}\ndevices:\n", clearAfter, box, screenAddr)
	for _, d := range devs {
		opts, _ := json.Marshal(d.options)
		transport := fmt.Sprintf("{type: serial, path: %s, baud: 9600}", d.path)
		if d.driver == "cctv" {
			transport = "{type: gpio}"
		}
		fmt.Fprintf(&b, "  - id: %s\n    driver: %s\n    transport: %s\n    options: %s\n", d.id, d.driver, transport, opts)
	}
	cfg, devices, err := edge.ParseConfig("box.yaml", []byte(b.String()), all.Drivers())
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	// CCTV outputs drive periph.io's fake pins: the box has no GPIO here.
	pins := gpioline.NewFake("GPIO17")
	for i := range devices {
		devices[i].Pin = pins.Open
	}
	bx, err := edge.New(cfg, devices, all.Drivers(), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(done)
		bx.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
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

// browser starts headless chromium with a fresh profile; each returned tab
// factory gives an isolated viewer (its own cookies).
func browser(t *testing.T, ctx context.Context) func() context.Context {
	t.Helper()
	if os.Getenv("KORDON_SKIP_BROWSER") != "" {
		t.Skip("KORDON_SKIP_BROWSER set")
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s missing: install the Debian package chromium (or set KORDON_SKIP_BROWSER=1)", chromium)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "ru-RU"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1600, 1000),
	)
	t.Cleanup(cancelAlloc)
	// chromedp does not know every event newer chromium sends; those
	// complaints are noise, anything else is reported.
	quiet := chromedp.WithErrorf(func(f string, args ...any) {
		if msg := fmt.Sprintf(f, args...); !strings.Contains(msg, "could not unmarshal event") {
			t.Logf("chromedp: %s", msg)
		}
	})
	root, cancelRoot := chromedp.NewContext(alloc, quiet)
	t.Cleanup(cancelRoot)
	if err := chromedp.Run(root); err != nil { // starts the browser
		t.Fatalf("chromium: %v", err)
	}
	return func() context.Context {
		tab, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		return tab
	}
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
