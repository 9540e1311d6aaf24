package browsertest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/hwtest/trace"
)

// panel is a screen size the booth readout and the dashboard must work at:
// the two 7-inch booth panels and a phone.
type panel struct {
	name string
	w, h int64
}

var panels = []panel{{"1024x600", 1024, 600}, {"800x480", 800, 480}, {"390", 390, 844}}

// emptyLane is the start of the demo's screening trace: nobody in front of
// the thermometer, which reads the room (22 °C), in a loop.
func emptyLane(t *testing.T) (*trace.Trace, map[string]any) {
	t.Helper()
	tr := readTrace(t, "../demo/traces/fever-screening.jsonl")
	var evs []trace.Event
	for _, e := range tr.Events {
		if strings.Contains(e.Note, "steps up") {
			break
		}
		if e.Note == "" {
			evs = append(evs, e)
		}
	}
	if len(evs) < 8 {
		t.Fatalf("empty-lane segment has %d events; the trace changed", len(evs))
	}
	opts := tr.Header.Options
	opts["timeout"] = "3s" // as in feverLoop: a slow replay is not a fault here
	return &trace.Trace{Header: tr.Header, Events: evs}, opts
}

// unpluggable is a pty device whose cable the test can pull.
func unpluggable(t *testing.T, tr *trace.Trace) (path string, play func(context.Context), unplug func()) {
	t.Helper()
	p, err := replay.OpenPTY(filepath.Join(t.TempDir(), "tty"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p.Path, func(ctx context.Context) { go replay.Serial(ctx, tr, p.Device, replay.Options{}) }, func() { p.Close() }
}

// boothLook is what one evaluation reads off the booth page.
type boothLook struct {
	Order          []string // device ids, top to bottom
	FirstTop       float64
	FirstBottom    float64
	DocHeight      float64 // the document card, which comes first when nobody has a fever
	Room           float64 // the screen below the bar (and a banner)
	ViewH, ViewW   float64
	ScrollW        float64
	DownText       string
	DownFont       float64
	StaleFont      float64
	StaleOpacity   float64
	EmptyText      string
	EmptyGreen     bool
	EmptyTempFont  float64
	FeverTempFont  float64
	DateLines      []int
	AllText        string
	HubBanner      string
	HubBannerShown bool
	Pill           string
	Missing        []string // keys the page asked the translation files for in vain
}

const boothLookJS = `(() => {
	const cards = [...document.querySelectorAll("#devices > .card")];
	const q = (s, r) => (r || document).querySelector(s);
	const txt = s => (q(s) || {}).textContent || "";
	const font = e => e ? parseFloat(getComputedStyle(e).fontSize) : 0;
	const first = cards[0] ? cards[0].getBoundingClientRect() : {top: -1, bottom: 1e9};
	const down = q('.card[data-device="reader2"]');
	const stale = down && q(".body.stale", down);
	const empty = q('.card[data-device="thermo2"]');
	const banner = q("#hub-banner");
	return {
		Order: cards.map(c => c.dataset.device),
		FirstTop: first.top, FirstBottom: first.bottom,
		DocHeight: q('.card[data-device="reader1"]').getBoundingClientRect().height,
		Room: innerHeight - q("#devices").getBoundingClientRect().top,
		ViewH: innerHeight, ViewW: innerWidth, ScrollW: document.documentElement.scrollWidth,
		DownText: down ? txt('.card[data-device="reader2"] div.avail.down') : "",
		DownFont: font(down && q("div.avail.down", down)),
		StaleFont: font(stale && q(".name", stale)),
		StaleOpacity: stale ? parseFloat(getComputedStyle(stale).opacity) : 1,
		EmptyText: empty ? empty.textContent : "",
		EmptyGreen: !!(empty && q(".verdict.ok", empty)),
		EmptyTempFont: font(empty && q(".temp", empty)),
		FeverTempFont: font(q('.card[data-device="thermo1"] .temp')),
		DateLines: [...document.querySelectorAll(".field .date")].map(e => e.getClientRects().length),
		AllText: q("#devices").innerText,
		HubBanner: banner.textContent, HubBannerShown: !banner.hidden,
		Pill: q("#link").dataset.state,
		Missing: [...I18N.missing],
	};
})()`

// TestBoothPanels: at both panel sizes and on a phone, in Russian and
// English, the most urgent card (a fever) is first and whole on screen,
// then the expired document; an unplugged reader says so in large type
// with its last reading small and dimmed; an empty lane at room
// temperature is no green "Normal"; dates do not wrap; nothing is wider
// than the screen; no driver words reach the officer. Then the hub goes
// away and the screen tells the officer the BLO is not receiving.
func TestBoothPanels(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	h := startHub(t, map[string]string{"booth-01": "pw1"}, nil)

	doc := readTrace(t, "../drivers/passport/testdata/traces/line-td3-specimen.jsonl")
	docPath, playDoc := ptyDevice(t, doc, false)
	doc2Path, playDoc2, unplugDoc2 := unpluggable(t, doc)
	fever, feverOpts := feverLoop(t)
	thermoPath, playFever := ptyDevice(t, fever, true)
	lane, laneOpts := emptyLane(t)
	lanePath, playLane := ptyDevice(t, lane, true)
	playFever(ctx)
	playLane(ctx)
	booth := startBox(t, ctx, "tcp://"+h.MQTTAddr(), "booth-01", "pw1", "120s",
		dev{id: "reader1", driver: "mrz", path: docPath, options: map[string]any{"framing": "line"}},
		dev{id: "reader2", driver: "mrz", path: doc2Path, options: map[string]any{"framing": "line"}},
		dev{id: "thermo1", driver: "modbus-thermometer", path: thermoPath, options: feverOpts},
		dev{id: "thermo2", driver: "modbus-thermometer", path: lanePath, options: laneOpts})

	newTab := browser(t, ctx)
	tab, tech := newTab(), newTab()
	run(t, tab, "open booth page",
		chromedp.Navigate(booth+"/?lang=en"),
		chromedp.WaitVisible(`body[data-ready="1"]`),
		chromedp.WaitVisible(`.card[data-device="reader2"][data-state="waiting"]`),
	)
	// The technician's live view of reader1 is open when the document comes.
	run(t, tech, "open the technician's view",
		chromedp.Navigate(booth+"/booth/watch?device=reader1&lang=ru"),
		chromedp.WaitVisible(`body[data-ready="1"]`),
	)
	playDoc(ctx)
	var frame struct{ Raw, Decoded string }
	var shot []byte
	run(t, tech, "raw bytes beside the decoded reading",
		chromedp.WaitVisible(`#frames tr[data-device="reader1"]`),
		chromedp.Evaluate(`(() => { const c = document.querySelectorAll('#frames tr[data-device="reader1"] td pre');
			return {Raw: c[0].textContent, Decoded: c[1].textContent}; })()`, &frame),
		chromedp.CaptureScreenshot(&shot),
	)
	artifact(t, "booth-watch-ru.png", shot)
	if !strings.Contains(frame.Raw, "50 3c 55 54 4f") || !strings.Contains(frame.Decoded, "ERIKSSON") {
		t.Errorf("technician's view: raw %q, decoded %q; want the MRZ bytes beside the decoded document", frame.Raw, frame.Decoded)
	}
	playDoc2(ctx)
	run(t, tab, "readings on screen",
		chromedp.WaitVisible(`.card[data-device="reader1"][data-state="showing"] .verdict`),
		chromedp.WaitVisible(`.card[data-device="reader2"][data-state="showing"] .verdict`),
		chromedp.WaitVisible(`.card[data-device="thermo1"] .verdict.bad`),
		chromedp.WaitVisible(`.card[data-device="thermo2"] .temp`),
	)
	unplugDoc2()
	run(t, tab, "reader2 unplugged", chromedp.WaitVisible(`.card[data-device="reader2"] div.avail.down`))

	words := map[string][]string{
		"en": {"NOT WORKING — unplugged", "No one at the thermometer", "NOT SENT TO THE BLO", "The BLO is not receiving"},
		"ru": {"НЕ РАБОТАЕТ — отключено", "Перед термометром никого нет", "НЕТ ПЕРЕДАЧИ ДАННЫХ", "Погранпредставительство не получает"},
	}
	check := func(p panel, lang string, hubGone bool) {
		t.Helper()
		var look boothLook
		var png []byte
		stage := ""
		if hubGone {
			stage = "-hub-gone"
		}
		run(t, tab, fmt.Sprintf("%s %s%s", p.name, lang, stage),
			chromedp.EmulateViewport(p.w, p.h),
			chromedp.Click(`#langs button[data-lang="`+lang+`"]`),
			chromedp.WaitVisible(`html[lang="`+lang+`"]`),
			chromedp.Evaluate(boothLookJS, &look),
			chromedp.CaptureScreenshot(&png),
		)
		artifact(t, fmt.Sprintf("booth-%s-%s%s.png", p.name, lang, stage), png)
		if p == panels[0] {
			run(t, tab, "whole page", chromedp.FullScreenshot(&png, 100))
			artifact(t, fmt.Sprintf("booth-%s-%s%s-full.png", p.name, lang, stage), png)
		}
		where := fmt.Sprintf("%s %s%s", p.name, lang, stage)
		want := []string{"thermo1", "reader1", "reader2", "thermo2"}
		if strings.Join(look.Order, ",") != strings.Join(want, ",") {
			t.Errorf("%s: cards in order %v, want the fever first, then the expired document, the unplugged reader, the empty lane %v", where, look.Order, want)
		}
		if look.FirstTop < 0 || look.FirstBottom > look.ViewH {
			t.Errorf("%s: first card spans %.0f..%.0f px of a %.0f px screen, want it whole", where, look.FirstTop, look.FirstBottom, look.ViewH)
		}
		if len(look.Missing) > 0 {
			t.Errorf("%s: keys missing from the translation files: %v", where, look.Missing)
		}
		if look.DocHeight > look.Room {
			t.Errorf("%s: the document card is %.0f px high, the screen has %.0f px for it: first, it would not be whole", where, look.DocHeight, look.Room)
		}
		if look.ScrollW > look.ViewW {
			t.Errorf("%s: page is %.0f px wide on a %.0f px screen", where, look.ScrollW, look.ViewW)
		}
		if !strings.Contains(look.DownText, words[lang][0]) {
			t.Errorf("%s: unplugged reader says %q, want %q", where, look.DownText, words[lang][0])
		}
		if look.DownFont < 1.5*look.StaleFont || look.StaleOpacity > 0.7 {
			t.Errorf("%s: 'not working' at %.0f px, stale name at %.0f px opacity %.1f; want the state large, the stale reading small and dimmed",
				where, look.DownFont, look.StaleFont, look.StaleOpacity)
		}
		if look.EmptyGreen || !strings.Contains(look.EmptyText, words[lang][1]) || look.EmptyTempFont >= look.FeverTempFont/2 {
			t.Errorf("%s: empty lane shows %q (green verdict %v, %.0f px against the fever's %.0f px)", where, look.EmptyText, look.EmptyGreen, look.EmptyTempFont, look.FeverTempFont)
		}
		for i, n := range look.DateLines {
			if n != 1 {
				t.Errorf("%s: date %d is broken over %d lines", where, i, n)
			}
		}
		if len(look.DateLines) < 4 {
			t.Errorf("%s: %d dates on screen, want the two documents' birth and expiry dates", where, len(look.DateLines))
		}
		for _, jargon := range []string{"housing", "Корпус", "td3", "TD3", "lane-1", "modbus", "_"} {
			if strings.Contains(look.AllText, jargon) {
				t.Errorf("%s: the officer's screen says %q", where, jargon)
			}
		}
		if hubGone != look.HubBannerShown || hubGone != (look.Pill == "nohub") {
			t.Errorf("%s: hub banner shown %v, pill %q", where, look.HubBannerShown, look.Pill)
		}
		if hubGone && (!strings.Contains(look.HubBanner, words[lang][3])) {
			t.Errorf("%s: banner %q, want %q", where, look.HubBanner, words[lang][3])
		}
	}
	for _, p := range panels {
		for _, lang := range []string{"ru", "en"} {
			check(p, lang, false)
		}
	}
	h.Stop()
	run(t, tab, "hub gone", chromedp.WaitVisible(`#hub-banner`))
	for _, lang := range []string{"ru", "en"} {
		check(panels[1], lang, true)
	}
}
