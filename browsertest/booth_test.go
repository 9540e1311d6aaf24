package browsertest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kordon/kordon/hwtest/trace"
)

// feverLoop is the feverish part of the recorded fever trace (from "steps
// up" to "leaves"), played in a loop: the traveller stays in front of the
// thermometer, so the fever stays on screen for as long as the test looks.
func feverLoop(t *testing.T) (*trace.Trace, map[string]any) {
	t.Helper()
	tr := readTrace(t, "../drivers/thermometer/testdata/traces/calex-fever.jsonl")
	var evs []trace.Event
	in := false
	for _, e := range tr.Events {
		switch {
		case strings.Contains(e.Note, "feverish traveller"):
			in = true
		case strings.Contains(e.Note, "leaves"):
			in = false
		case in && e.Note == "":
			evs = append(evs, e)
		}
	}
	if len(evs) < 8 {
		t.Fatalf("fever segment has %d events; the trace changed", len(evs))
	}
	opts := tr.Header.Options
	// The loop repeats the same samples; only the stuck-sensor check would
	// mind, and this test is not about it.
	if sc, ok := opts["screening"].(map[string]any); ok {
		sc["stuck_window"] = "1h"
	}
	// The trace's own 400 ms reply timeout is the device's; under the race
	// detector on a loaded machine the replay can answer later than that,
	// and this test is not about timeouts either.
	opts["timeout"] = "3s"
	return &trace.Trace{Header: tr.Header, Events: evs}, opts
}

// TestBoothShowsDocumentAndFever: a replayed passport (the ICAO specimen)
// and a replayed fever appear on the booth readout in large type, with the
// document's checks and the fever state; the document is cleared after
// clear_after so the next traveller does not see it.
func TestBoothShowsDocumentAndFever(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	h := startHub(t, map[string]string{"booth-01": "pw1"}, nil)

	doc := readTrace(t, "../drivers/passport/testdata/traces/line-td3-specimen.jsonl")
	docPath, playDoc := ptyDevice(t, doc, false)
	fever, feverOpts := feverLoop(t)
	thermoPath, playFever := ptyDevice(t, fever, true)
	// Modbus is poll/response: the replay answers polls, so it may start first.
	playFever(ctx)
	booth := startBox(t, ctx, "tcp://"+h.MQTTAddr(), "booth-01", "pw1", "6s",
		dev{id: "reader1", driver: "mrz", path: docPath, options: map[string]any{"framing": "line"}},
		dev{id: "thermo1", driver: "modbus-thermometer", path: thermoPath, options: feverOpts})

	newTab := browser(t, ctx)
	tab := newTab()
	docCard := `.card[data-device="reader1"]`
	run(t, tab, "open booth page",
		chromedp.Navigate(booth+"/?lang=en"),
		chromedp.WaitVisible(`body[data-ready="1"]`),
		chromedp.WaitVisible(docCard+`[data-state="waiting"]`),
	)
	playDoc(ctx)
	var shown struct{ Name, Verdict, Checks, Temp, TempVerdict string }
	run(t, tab, "document and fever on screen",
		chromedp.WaitVisible(docCard+`[data-state="showing"] .verdict`),
		chromedp.WaitVisible(`.card[data-device="thermo1"] .verdict.bad`),
		// One evaluation reads every text at once: the thermometer card is
		// re-rendered on each reading, so a node found by one call may be
		// gone by the next.
		chromedp.Evaluate(`(() => {
			const t = s => (document.querySelector(s) || {}).textContent || "";
			const doc = '.card[data-device="reader1"]', th = '.card[data-device="thermo1"]';
			return {Name: t(doc+" .name"), Verdict: t(doc+" .verdict"), Checks: t(doc+" .checks"),
				Temp: t(th+" .temp"), TempVerdict: t(th+" .verdict")};
		})()`, &shown),
	)
	name, verdict, checks, temp, tempVerdict := shown.Name, shown.Verdict, shown.Checks, shown.Temp, shown.TempVerdict
	var png []byte
	run(t, tab, "screenshot", chromedp.FullScreenshot(&png, 100))
	artifact(t, "booth-document-fever-en.png", png)

	if name != "ERIKSSON" {
		t.Errorf("name on screen %q, want ERIKSSON", name)
	}
	// The specimen's check digits are right, but it expired in 2012.
	if !strings.Contains(verdict, "EXPIRED") {
		t.Errorf("verdict %q, want the document expired", verdict)
	}
	if strings.Count(checks, "✓") != 5 || strings.Contains(checks, "✗") {
		t.Errorf("checks %q, want five passed", checks)
	}
	if !strings.Contains(tempVerdict, "FEVER") || !strings.Contains(temp, "°C") {
		t.Errorf("temperature card: %q %q, want a fever in °C", temp, tempVerdict)
	}

	// Switched to Russian by a tap, no keyboard.
	var ruVerdict string
	run(t, tab, "switch to Russian",
		chromedp.Click(`#langs button[data-lang="ru"]`),
		chromedp.WaitVisible(`html[lang="ru"]`),
		chromedp.Evaluate(`(document.querySelector('.card[data-device="thermo1"] .verdict') || {}).textContent || ""`, &ruVerdict),
		chromedp.FullScreenshot(&png, 100),
	)
	artifact(t, "booth-document-fever-ru.png", png)
	if !strings.Contains(ruVerdict, "ЖАР") {
		t.Errorf("Russian fever verdict %q", ruVerdict)
	}

	// clear_after later the traveller's data is gone from the page.
	var html string
	run(t, tab, "document cleared",
		chromedp.WaitVisible(docCard+`[data-state="waiting"]`),
		chromedp.Evaluate(`(document.querySelector('.card[data-device="reader1"]') || {}).outerHTML || ""`, &html),
	)
	if strings.Contains(html, "ERIKSSON") || strings.Contains(html, "L898902C3") {
		t.Errorf("personal data still on the page after clear_after: %s", html)
	}
}

// TestBoothWorksWithoutHub: the readout is fed on the box; with no hub
// reachable the officer still sees the document.
func TestBoothWorksWithoutHub(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	doc := readTrace(t, "../drivers/passport/testdata/traces/line-td3-bad-check.jsonl")
	docPath, playDoc := ptyDevice(t, doc, false)
	nowhere := "tcp://" + freePort(t) // nothing listens there
	booth := startBox(t, ctx, nowhere, "booth-09", "pw", "60s",
		dev{id: "reader1", driver: "mrz", path: docPath, options: map[string]any{"framing": "line"}})
	tab := browser(t, ctx)()
	run(t, tab, "open booth page",
		chromedp.Navigate(booth+"/?lang=ru"),
		chromedp.WaitVisible(`.card[data-device="reader1"]`),
	)
	playDoc(ctx)
	var verdict string
	var png []byte
	run(t, tab, "document on screen without a hub",
		chromedp.WaitVisible(`.card[data-device="reader1"][data-state="showing"] .verdict.bad`),
		chromedp.Text(`.card[data-device="reader1"] .verdict`, &verdict),
		chromedp.FullScreenshot(&png, 100),
	)
	artifact(t, "booth-bad-check-no-hub-ru.png", png)
	if !strings.Contains(verdict, "ОШИБКА ПРОВЕРКИ") {
		t.Errorf("verdict %q, want a failed check in Russian", verdict)
	}
	// A box that has never reached the hub is given a few seconds, then
	// the officer is told the BLO is not receiving.
	var banner string
	run(t, tab, "the officer is told",
		chromedp.WaitVisible(`#hub-banner`),
		chromedp.Text(`#hub-banner`, &banner),
	)
	if !strings.Contains(banner, "Погранпредставительство не получает") || !strings.Contains(banner, "ещё не подключился") {
		t.Errorf("banner %q, want the BLO not receiving, the box never connected", banner)
	}
}

// TestBoothShowsFailedRead: a reader that sends only half a document makes
// the booth say so, and tell the officer to present the document again.
func TestBoothShowsFailedRead(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	half := &trace.Trace{
		Header: trace.Header{Trace: trace.Version, Driver: "mrz", Options: map[string]any{"framing": "line"}},
		Events: []trace.Event{
			{T: 300 * time.Millisecond, Dev: []byte("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\r")},
			{T: 1500 * time.Millisecond, Note: "the second row never comes"},
		},
	}
	docPath, playDoc := ptyDevice(t, half, false)
	booth := startBox(t, ctx, "tcp://"+freePort(t), "booth-08", "pw", "60s",
		dev{id: "reader1", driver: "mrz", path: docPath, options: map[string]any{"framing": "line"}})
	tab := browser(t, ctx)()
	run(t, tab, "open booth page",
		chromedp.Navigate(booth+"/?lang=en"),
		chromedp.WaitVisible(`.card[data-device="reader1"]`),
	)
	playDoc(ctx)
	var verdict, note string
	var png []byte
	run(t, tab, "failed read on screen",
		chromedp.WaitVisible(`.card[data-device="reader1"][data-state="showing"] .verdict.bad`),
		chromedp.Text(`.card[data-device="reader1"] .verdict`, &verdict),
		chromedp.Text(`.card[data-device="reader1"] .note`, &note),
		chromedp.FullScreenshot(&png, 100),
	)
	artifact(t, "booth-failed-read-en.png", png)
	if !strings.Contains(verdict, "present the document again") {
		t.Errorf("verdict %q, want the officer told to present the document again", verdict)
	}
	if !strings.Contains(note, "only part") {
		t.Errorf("note %q, want the incomplete read explained", note)
	}
}
