// Package browsertest drives Debian's chromium (headless, through chromedp)
// against a real hub (hub.New) and real edge boxes (edge.New) on 127.0.0.1,
// fed by recorded traces through pseudo-terminals: the booth readout shows
// a replayed document and a fever; an alert acknowledged on the BLO
// dashboard changes state for a second viewer. Screenshots go to
// test-artifacts/ at the repository root (git-ignored).
//
// Needs the Debian package chromium (/usr/bin/chromium). Without it the
// tests fail, saying so; set KORDON_SKIP_BROWSER=1 to skip them instead.
package browsertest
