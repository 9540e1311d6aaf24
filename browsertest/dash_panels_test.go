package browsertest

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// untranslatedJS lists the visible text of the page that the translation
// files did not give: words in Latin letters outside elements marked
// translate="no" (names of boxes, devices, users, codes), and every key
// the page asked the translation files for in vain.
const untranslatedJS = `(() => {
	const allowed = /\b(i2|IBM|CSV|UTC|Analyst's Notebook|iBase|docs\/i2-export\.md)\b/g;
	const found = new Set();
	const check = (s, where) => {
		const rest = (s || "").replace(allowed, "");
		const m = rest.match(/[A-Za-z]{2,}/g);
		if (m) found.add(where + ": " + s.trim().slice(0, 80));
	};
	const walk = (n, where) => {
		if (n.nodeType === 3) { check(n.textContent, where); return; }
		if (n.nodeType !== 1 || n.translate === false) return;
		const cs = getComputedStyle(n);
		if (n.hidden || cs.display === "none" || cs.visibility === "hidden" || n.tagName === "SCRIPT" || n.tagName === "STYLE") return;
		where = n.id ? "#" + n.id : where;
		for (const a of ["placeholder", "title", "aria-label"]) if (n.getAttribute(a)) check(n.getAttribute(a), where + "@" + a);
		if (n.tagName === "DETAILS" && !n.open) { const s = n.querySelector("summary"); if (s) walk(s, where); return; }
		if (n.tagName === "SELECT") { for (const o of n.options) if (o.translate !== false) check(o.textContent, where + " option"); return; }
		for (const c of n.childNodes) walk(c, where);
	};
	walk(document.body, "body");
	return {Text: [...found], Keys: [...I18N.missing], ScrollW: document.documentElement.scrollWidth, ViewW: innerWidth};
})()`

type pageCheck struct {
	Text    []string
	Keys    []string
	ScrollW float64
	ViewW   float64
}

var dashLangs = []string{"ru", "kk", "en"}

// TestDashboardPanels: the dashboard at both panel sizes and on a phone,
// in each language, every view: nothing wider than the screen, and on the
// Russian and Kazakh dashboards not one word of English — rule summaries,
// quality reasons, payload fields and values, dates included; every
// translation key the page uses exists. Dates are written in the page's
// language and so are the day pickers.
func TestDashboardPanels(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
	defer cancel()
	h := startHub(t, map[string]string{"booth-01": "pw1"}, map[string]string{"super1": "supervisor"})
	base := "http://" + h.HTTPAddr()
	bad := readTrace(t, "../drivers/passport/testdata/traces/line-td3-bad-check.jsonl")
	spec := readTrace(t, "../drivers/passport/testdata/traces/line-td3-specimen.jsonl")
	badPath, playBad := ptyDevice(t, bad, false)
	specPath, playSpec := ptyDevice(t, spec, false)
	fever, feverOpts := feverLoop(t)
	thermoPath, playFever := ptyDevice(t, fever, true)
	playFever(ctx)
	startBox(t, ctx, "tcp://"+h.MQTTAddr(), "booth-01", "pw1", "60s",
		dev{id: "reader1", driver: "mrz", path: badPath, options: map[string]any{"framing": "line"}},
		dev{id: "reader2", driver: "mrz", path: specPath, options: map[string]any{"framing": "line"}},
		dev{id: "thermo1", driver: "modbus-thermometer", path: thermoPath, options: feverOpts},
		dev{id: "cctv1", driver: "cctv", options: map[string]any{"line": "GPIO17", "mode": "latch"}})

	tab := browser(t, ctx)()
	login(t, tab, base, "super1", "ru")
	playBad(ctx)
	playSpec(ctx)
	run(t, tab, "three alerts",
		chromedp.WaitVisible(`#alerts > li[data-rule="document-check-failed"]:not([hidden])`),
		chromedp.WaitVisible(`#alerts > li[data-rule="document-expired"]:not([hidden])`),
		chromedp.WaitVisible(`#alerts > li[data-rule="fever"]:not([hidden])`),
		chromedp.WaitVisible(`#readings li .r-value`),
	)
	today := time.Now().UTC().Format("2006-01-02")
	months := map[string]string{"ru": "январь", "kk": "қаңтар", "en": "january"}
	numeric := regexp.MustCompile(`\d{1,2}/\d{1,2}/\d{4}`)

	for _, lang := range dashLangs {
		run(t, tab, "open in "+lang,
			chromedp.Navigate(base+"/dash/?lang="+lang),
			chromedp.WaitVisible(`body[data-ready="1"]`),
			chromedp.WaitVisible(`#alerts > li[data-rule="fever"]:not([hidden])`),
		)
		for _, p := range panels {
			where := p.name + " " + lang
			var png []byte
			look := func(view string, actions ...chromedp.Action) {
				t.Helper()
				var pc pageCheck
				all := append([]chromedp.Action{chromedp.EmulateViewport(p.w, p.h)}, actions...)
				all = append(all, chromedp.Evaluate(untranslatedJS, &pc), chromedp.CaptureScreenshot(&png))
				run(t, tab, where+" "+view, all...)
				artifact(t, fmt.Sprintf("dash-%s-%s-%s.png", view, p.name, lang), png)
				if pc.ScrollW > pc.ViewW {
					t.Errorf("%s %s: page is %.0f px wide on a %.0f px screen", where, view, pc.ScrollW, pc.ViewW)
				}
				if len(pc.Keys) > 0 {
					t.Errorf("%s %s: keys missing from the translation files: %v", where, view, pc.Keys)
				}
				if lang != "en" && len(pc.Text) > 0 {
					t.Errorf("%s %s: English on the %s dashboard:\n  %s", where, view, lang, strings.Join(pc.Text, "\n  "))
				}
			}
			look("alerts",
				chromedp.Click(`#nav button[data-view="alerts"]`),
				chromedp.Click(`#alerts > li[data-rule="document-check-failed"]:not([hidden]) button.details`),
				chromedp.WaitVisible(`#detail .reading`))
			run(t, tab, "close detail", chromedp.Click(`#detail .close`), chromedp.WaitNotVisible(`#detail`))
			look("health",
				chromedp.Click(`#nav button[data-view="health"]`),
				chromedp.WaitVisible(`#rules .rule-list`),
				chromedp.WaitVisible(`.box[data-box="booth-01"] .cmd-row[data-device="cctv1"]`))
			var history struct{ Date, Month string }
			look("history",
				chromedp.Click(`#nav button[data-view="history"]`),
				chromedp.Click(`#search button[type=submit]`),
				chromedp.WaitVisible(`#history tbody tr`),
				chromedp.Evaluate(`({Date: document.querySelector("#history tbody tr td").textContent,
					Month: document.querySelector("#search .dp-month").options[1].textContent})`, &history))
			if numeric.MatchString(history.Date) || !strings.Contains(strings.ToLower(history.Date), monthShort(lang)) {
				t.Errorf("%s: history date %q, want the month by name in %s", where, history.Date, lang)
			}
			if strings.ToLower(history.Month) != months[lang] {
				t.Errorf("%s: the day picker's first month is %q, want %q", where, history.Month, months[lang])
			}
			look("summary",
				chromedp.Click(`#nav button[data-view="summary"]`),
				chromedp.WaitVisible(`#summary .sum-grid`))
			var day string
			look("export",
				chromedp.Click(`#nav button[data-view="export"]`),
				chromedp.WaitVisible(`#export-form .day-picker`),
				chromedp.Evaluate(`document.querySelector("#export-form input[name=day]").value`, &day))
			if day != today {
				t.Errorf("%s: export day %q, want today %s", where, day, today)
			}
			run(t, tab, "back to alerts", chromedp.Click(`#nav button[data-view="alerts"]`))
		}
	}
}

// monthShort is how the current month begins when written in lang.
func monthShort(lang string) string {
	m := time.Now().UTC().Month() - 1
	names := map[string][]string{
		"en": {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"},
		"ru": {"янв", "февр", "мар", "апр", "мая", "июн", "июл", "авг", "сент", "окт", "нояб", "дек"},
		"kk": {"қаң", "ақп", "нау", "сәу", "мам", "мау", "шіл", "там", "қыр", "қаз", "қар", "жел"},
	}
	return names[lang][m]
}
