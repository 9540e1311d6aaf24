package browsertest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kordon/kordon/hwtest/trace"
)

// TestBoothShowsWeighing: a family's own booth card (drivers/weighbridge/
// booth.js, served in /booth/families.js) shows a replayed overweight
// lorry in words, in English and in Kazakh, with no key untranslated.
func TestBoothShowsWeighing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	h := startHub(t, map[string]string{"lane-01": "pw1"}, nil)
	tr := readTrace(t, "../drivers/weighbridge/testdata/traces/settle-overweight.jsonl")
	// Up to the settled overweight lines: the lorry stays on the bridge.
	var evs []trace.Event
	for _, e := range tr.Events {
		evs = append(evs, e)
		if bytes.HasPrefix(e.Dev, []byte("ST,GS,+0046250kg")) {
			break
		}
	}
	path, play := ptyDevice(t, &trace.Trace{Header: tr.Header, Events: evs}, false)
	booth := startBox(t, ctx, "tcp://"+h.MQTTAddr(), "lane-01", "pw1", "60s",
		dev{id: "wb1", driver: "weighbridge", path: path, options: map[string]any{"max_gross_kg": 44000}})
	tab := browser(t, ctx)()
	card := `.card[data-device="wb1"]`
	run(t, tab, "open booth page",
		chromedp.Navigate(booth+"/?lang=en"),
		chromedp.WaitVisible(`body[data-ready="1"]`),
	)
	play(ctx)
	var shown struct {
		Kind, Weight, Verdict, Fields string
		Missing                       []string
	}
	look := chromedp.Evaluate(`(() => {
		const t = s => (document.querySelector(s) || {}).textContent || "";
		const c = '.card[data-device="wb1"]';
		return {Kind: t(c+" .kind"), Weight: t(c+" .temp"), Verdict: t(c+" .verdict"), Fields: t(c+" .fields"), Missing: [...I18N.missing]};
	})()`, &shown)
	run(t, tab, "overweight on screen", chromedp.WaitVisible(card+` .verdict.bad`), look)
	var png []byte
	run(t, tab, "screenshot", chromedp.FullScreenshot(&png, 100))
	artifact(t, "booth-weighbridge-en.png", png)
	if shown.Kind != "Weighbridge" || !strings.Contains(shown.Verdict, "OVER THE LIMIT") || !strings.Contains(shown.Weight, "kg") ||
		!strings.Contains(shown.Fields, "gross") || !strings.Contains(shown.Fields, "Limit") {
		t.Errorf("weighbridge card in English: %+v", shown)
	}
	run(t, tab, "switch to Kazakh",
		chromedp.Click(`#langs button[data-lang="kk"]`),
		chromedp.WaitVisible(`html[lang="kk"]`),
		look,
	)
	if shown.Kind != "Таразы" || !strings.Contains(shown.Verdict, "ШЕКТЕН АСТЫ") || !strings.Contains(shown.Fields, "брутто") {
		t.Errorf("weighbridge card in Kazakh: %+v", shown)
	}
	if len(shown.Missing) > 0 {
		t.Errorf("keys missing from the translation files: %v", shown.Missing)
	}
}
