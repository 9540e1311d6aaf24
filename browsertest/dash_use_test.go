package browsertest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/kordon/kordon/hwtest/trace"
)

// repeated plays tr n times in a row, half a second apart: the same
// document presented again and again at one reader.
func repeated(tr *trace.Trace, n int) *trace.Trace {
	out := &trace.Trace{Header: tr.Header}
	var end time.Duration
	for _, e := range tr.Events {
		end = max(end, e.T)
	}
	for i := 0; i < n; i++ {
		for _, e := range tr.Events {
			e.T += time.Duration(i) * (end + 500*time.Millisecond)
			out.Events = append(out.Events, e)
		}
	}
	return out
}

// TestDashboardUse: what officers and supervisors do with the dashboard.
// A high alert sounds for a viewer who has not muted and not for one who
// has; repeated alerts of one rule at one device are one group that is
// acknowledged at once; a new alert does not move the alert being
// acknowledged from under the pointer (it waits above the list); an open
// history search shows the acknowledgements without a new search; a
// supervisor triggers and releases a CCTV output and asks for a resend,
// and an officer has no such controls; the latest readings show values;
// the rules are listed with their severity and summary.
func TestDashboardUse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	h := startHub(t, map[string]string{"booth-01": "pw1"},
		map[string]string{"officer1": "officer", "super1": "supervisor"})
	base := "http://" + h.HTTPAddr()
	bad := readTrace(t, "../drivers/passport/testdata/traces/line-td3-bad-check.jsonl")
	badPath, playBad3 := ptyDevice(t, repeated(bad, 3), false)
	bad2Path, playBad2 := ptyDevice(t, bad, false)
	fever, feverOpts := feverLoop(t)
	thermoPath, playFever := ptyDevice(t, fever, true)
	startBox(t, ctx, "tcp://"+h.MQTTAddr(), "booth-01", "pw1", "60s",
		dev{id: "reader1", driver: "mrz", path: badPath, options: map[string]any{"framing": "line"}},
		dev{id: "reader2", driver: "mrz", path: bad2Path, options: map[string]any{"framing": "line"}},
		dev{id: "thermo1", driver: "modbus-thermometer", path: thermoPath, options: feverOpts},
		dev{id: "cctv1", driver: "cctv", options: map[string]any{"line": "GPIO17", "mode": "latch"}})

	newTab := browser(t, ctx)
	officer, super := newTab(), newTab()
	login(t, officer, base, "officer1", "en")
	login(t, super, base, "super1", "ru")
	run(t, officer, "phone-sized officer screen", chromedp.EmulateViewport(1024, 600))
	run(t, super, "supervisor mutes", chromedp.Click(`#sound`), chromedp.WaitVisible(`#sound.muted`))

	// Sound for a high alert, unless muted.
	playFever(ctx)
	fev := `#alerts > li[data-rule="fever"]`
	run(t, officer, "fever alert for the officer", chromedp.WaitVisible(fev))
	run(t, super, "fever alert for the supervisor", chromedp.WaitVisible(fev))
	var chimes struct{ Officer, Super string }
	run(t, officer, "officer's chimes", chromedp.Evaluate(`document.body.dataset.chimes || ""`, &chimes.Officer))
	run(t, super, "supervisor's chimes", chromedp.Evaluate(`document.body.dataset.chimes || ""`, &chimes.Super))
	if chimes.Officer == "" || chimes.Super != "" {
		t.Errorf("chimes: officer %q, muted supervisor %q; want the officer to hear the fever and the supervisor not", chimes.Officer, chimes.Super)
	}

	// Three alerts of one rule at one device: one group.
	playBad3(ctx)
	doc := `#alerts > li[data-rule="document-check-failed"]`
	run(t, officer, "three document alerts, grouped",
		chromedp.Poll(`document.querySelectorAll('`+doc+`').length === 3`, nil, chromedp.WithPollingTimeout(30*time.Second)),
		chromedp.WaitVisible(doc+`:not([hidden]) .group-bar .ack-all`),
	)
	var group struct {
		Shown int
		Bar   string
	}
	run(t, officer, "read the group", chromedp.Evaluate(`({Shown: [...document.querySelectorAll('`+doc+`')].filter(l => !l.hidden).length,
		Bar: document.querySelector('`+doc+`:not([hidden]) .group-bar').textContent})`, &group))
	if group.Shown != 1 || !strings.Contains(group.Bar, "2 more") || !strings.Contains(group.Bar, "Acknowledge all 3") {
		t.Errorf("group: %d shown, bar %q; want one alert standing for three", group.Shown, group.Bar)
	}

	// The supervisor has a history search open.
	run(t, super, "history search",
		chromedp.Click(`#nav button[data-view="history"]`),
		chromedp.Click(`#search button[type=submit]`),
		chromedp.WaitVisible(`#history tbody tr`),
	)

	// Acknowledging the fever: a new alert arrives meanwhile.
	var before, after float64
	run(t, officer, "open the acknowledgement",
		chromedp.Click(fev+` button.ack`),
		chromedp.WaitVisible(fev+` .act-form textarea`),
		chromedp.Evaluate(`document.querySelector('`+fev+`').getBoundingClientRect().top`, &before),
	)
	playBad2(ctx)
	run(t, super, "the new alert reaches the supervisor", chromedp.WaitReady(`#alerts > li[data-rule="document-check-failed"]`))
	var png []byte
	run(t, officer, "the new alert waits above the list",
		chromedp.WaitVisible(`#pending.has`),
		chromedp.Evaluate(`document.querySelector('`+fev+`').getBoundingClientRect().top`, &after),
		chromedp.CaptureScreenshot(&png),
	)
	artifact(t, "dash-use-pending-en.png", png)
	if before != after {
		t.Errorf("the alert being acknowledged moved from %.0f to %.0f px when a new alert arrived", before, after)
	}
	run(t, officer, "acknowledge the fever, then the new alert shows",
		chromedp.SendKeys(fev+` .act-form textarea`, "Sent to the medical post"),
		chromedp.Click(fev+` .act-form button.confirm`),
		chromedp.WaitVisible(fev+`[data-state="acknowledged"]`),
		chromedp.MouseEvent(input.MouseMoved, 5, 5),
		chromedp.Poll(`[...document.querySelectorAll('`+doc+`')].length === 4 && !document.querySelector("#pending.has")`, nil, chromedp.WithPollingTimeout(20*time.Second)),
	)

	// The group of three at reader1 acknowledged at once.
	run(t, officer, "acknowledge the group",
		chromedp.Click(doc+`:not([hidden]) .group-bar .ack-all`),
		chromedp.WaitVisible(doc+` .act-form[data-bulk="3"] textarea`),
		chromedp.SendKeys(doc+` .act-form[data-bulk="3"] textarea`, "Same traveller, one document"),
		chromedp.Click(doc+` .act-form[data-bulk="3"] button.confirm`),
		chromedp.Poll(`[...document.querySelectorAll('`+doc+`')].filter(l => l.dataset.state === "acknowledged").length === 3`, nil, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.CaptureScreenshot(&png),
	)
	artifact(t, "dash-use-group-acknowledged-en.png", png)

	// The supervisor's open history shows it without searching again.
	run(t, super, "history refreshed",
		chromedp.Poll(`[...document.querySelectorAll("#history tbody tr")].filter(r => r.dataset.state === "acknowledged").length >= 4`, nil, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.CaptureScreenshot(&png),
	)
	artifact(t, "dash-use-history-refreshed-ru.png", png)

	// Commands: the supervisor has them, the officer does not.
	cam := `.box[data-box="booth-01"] .cmd-row[data-device="cctv1"]`
	var status struct{ Trigger, Release, Resend string }
	run(t, super, "CCTV trigger, release, resend",
		chromedp.Click(`#nav button[data-view="health"]`),
		chromedp.WaitVisible(cam+` button.cctv-trigger`),
		chromedp.Click(cam+` button.cctv-trigger`),
		chromedp.WaitVisible(cam+` .cmd-result[data-status]`),
		chromedp.Evaluate(`document.querySelector('`+cam+` .cmd-result').dataset.status`, &status.Trigger),
		chromedp.Click(cam+` button.cctv-release`),
		chromedp.Poll(`document.querySelector('`+cam+` .cmd-result').textContent.includes("отключена")`, nil, chromedp.WithPollingTimeout(15*time.Second)),
		chromedp.Evaluate(`document.querySelector('`+cam+` .cmd-result').dataset.status`, &status.Release),
		chromedp.SetValue(`.box[data-box="booth-01"] form.resend select`, "reader1"),
		chromedp.SendKeys(`.box[data-box="booth-01"] form.resend input[name=from]`, "1"),
		chromedp.Click(`.box[data-box="booth-01"] form.resend button.resend`),
		chromedp.WaitVisible(`.box[data-box="booth-01"] form.resend .cmd-result[data-status]`),
		chromedp.Evaluate(`document.querySelector('.box[data-box="booth-01"] form.resend .cmd-result').dataset.status`, &status.Resend),
		chromedp.CaptureScreenshot(&png),
	)
	artifact(t, "dash-use-commands-ru.png", png)
	if status.Trigger != "ok" || status.Release != "ok" || status.Resend != "ok" {
		t.Errorf("commands: trigger %q, release %q, resend %q; want all done", status.Trigger, status.Release, status.Resend)
	}
	var rules struct {
		N, Summaries int
	}
	run(t, super, "rules listed", chromedp.Evaluate(`({N: document.querySelectorAll("#rules .rule-list li").length,
		Summaries: [...document.querySelectorAll("#rules .rule-list li .rule-summary")].filter(s => s.textContent.trim()).length})`, &rules))
	if rules.N < 10 || rules.Summaries != rules.N {
		t.Errorf("rules list: %d rules, %d with a summary", rules.N, rules.Summaries)
	}
	var officerCmds int
	var thermo string
	run(t, officer, "no commands for an officer; readings with values",
		chromedp.Evaluate(`(document.querySelector('#readings li[data-key="booth-01/thermo1"] .r-value') || {}).textContent || ""`, &thermo),
		chromedp.Click(`#nav button[data-view="health"]`),
		chromedp.WaitVisible(`.box[data-box="booth-01"]`),
		chromedp.Evaluate(`document.querySelectorAll(".commands").length`, &officerCmds),
	)
	if officerCmds != 0 {
		t.Errorf("an officer sees %d command panels", officerCmds)
	}
	if !strings.Contains(thermo, "°C") {
		t.Errorf("latest thermometer reading shows %q, want its temperature", thermo)
	}
}
