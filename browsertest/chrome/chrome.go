// Package chrome starts Debian's headless chromium for the browser tests,
// one way for every package that has them.
package chrome

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path is where Debian's chromium package puts the browser.
const Path = "/usr/bin/chromium"

// Options shape the browser window and its language.
type Options struct {
	Width, Height int    // default 1400 x 900
	Lang          string // e.g. "ru-RU"; default the browser's
}

// Start starts chromium with a fresh profile and returns a tab factory:
// each tab is an isolated viewer (its own cookies), closed with the test.
// KORDON_SKIP_BROWSER=1 skips the test; a missing chromium fails it
// (scripts/deps.sh installs it, and a test that skipped would hide that).
func Start(t testing.TB, ctx context.Context, o Options) func() context.Context {
	t.Helper()
	if os.Getenv("KORDON_SKIP_BROWSER") != "" {
		t.Skip("KORDON_SKIP_BROWSER set")
	}
	if _, err := os.Stat(Path); err != nil {
		t.Fatalf("%s missing: install the Debian package chromium (scripts/deps.sh), or set KORDON_SKIP_BROWSER=1", Path)
	}
	if o.Width == 0 {
		o.Width, o.Height = 1400, 900
	}
	// Not t.TempDir: chromium's helper processes can still be writing the
	// profile when the browser itself has exited, and TempDir's removal
	// then fails the test. This one is removed once they are gone.
	profile, err := os.MkdirTemp("", "kordon-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeProfile(t, profile) })
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(o.Width, o.Height),
	}
	if o.Lang != "" {
		opts = append(opts, chromedp.Flag("lang", o.Lang))
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc) // waits for the browser process to exit
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

// removeProfile removes the profile, trying again while chromium's last
// helper processes finish writing into it.
func removeProfile(t testing.TB, dir string) {
	var err error
	for wait := 10 * time.Millisecond; wait < 5*time.Second; wait *= 2 {
		if err = os.RemoveAll(dir); err == nil {
			return
		}
		time.Sleep(wait)
	}
	t.Logf("chromium profile %s left behind: %v", dir, err)
}
