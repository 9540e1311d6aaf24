package browsertest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func login(t *testing.T, tab context.Context, base, user, lang string) {
	t.Helper()
	run(t, tab, "log in as "+user,
		chromedp.Navigate(base+"/dash/login?lang="+lang),
		chromedp.WaitVisible(`#user`),
		chromedp.SendKeys(`#user`, user),
		chromedp.SendKeys(`#password`, user+"pw"),
		chromedp.Click(`#submit`),
		chromedp.WaitVisible(`body[data-ready="1"]`),
		chromedp.WaitVisible(`#conn[data-state="live"]`),
	)
}

// TestAlertAcknowledgedForSecondViewer: a replayed bad document raises an
// alert that two logged-in viewers see arrive live; the officer
// acknowledges it with a note, and the supervisor's screen shows the new
// state and who did it, without a reload.
func TestAlertAcknowledgedForSecondViewer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	h := startHub(t, map[string]string{"booth-01": "pw1"},
		map[string]string{"officer1": "officer", "super1": "supervisor"})
	base := "http://" + h.HTTPAddr()
	doc := readTrace(t, "../drivers/passport/testdata/traces/line-td3-bad-check.jsonl")
	docPath, playDoc := ptyDevice(t, doc, false)
	startBox(t, ctx, "tcp://"+h.MQTTAddr(), "booth-01", "pw1", "60s",
		dev{id: "reader1", driver: "mrz", path: docPath, options: map[string]any{"framing": "line"}})

	newTab := browser(t, ctx)
	officer, super := newTab(), newTab()
	login(t, officer, base, "officer1", "en")
	login(t, super, base, "super1", "ru")

	playDoc(ctx) // the alert is raised after both viewers are live
	alert := `#alerts > li[data-rule="document-check-failed"]`
	run(t, super, "alert arrives for the supervisor", chromedp.WaitVisible(alert+`[data-state="open"]`))
	run(t, officer, "alert arrives for the officer", chromedp.WaitVisible(alert+`[data-state="open"]`))
	var png []byte
	run(t, officer, "screenshot", chromedp.FullScreenshot(&png, 100))
	artifact(t, "dash-alert-open-en.png", png)

	run(t, officer, "acknowledge with a note",
		chromedp.Click(alert+` button.ack`),
		chromedp.WaitVisible(alert+` .act-form textarea`),
		chromedp.SendKeys(alert+` .act-form textarea`, "Traveller sent to secondary inspection"),
		chromedp.Click(alert+` .act-form button.confirm`),
		chromedp.WaitVisible(alert+`[data-state="acknowledged"]`),
	)
	var seen struct{ Who, State, Note string }
	run(t, super, "the supervisor sees the acknowledgement",
		chromedp.WaitVisible(alert+`[data-state="acknowledged"] .ack-by`),
		// One evaluation reads the row at once: live events may re-render
		// it between separate calls.
		chromedp.Evaluate(`(() => {
			const row = document.querySelector(`+"`"+alert+"`"+`);
			const t = s => ((row && row.querySelector(s)) || {}).textContent || "";
			return {Who: t(".ack-by"), State: t(".a-state"), Note: t("q.note")};
		})()`, &seen),
		chromedp.Click(alert+` button.details`),
		chromedp.WaitVisible(`#detail .reading`),
		chromedp.FullScreenshot(&png, 100),
	)
	artifact(t, "dash-alert-acknowledged-ru.png", png)
	who, state, note := seen.Who, seen.State, seen.Note
	if !strings.Contains(who, "officer1") || state != "Принята" || note != "Traveller sent to secondary inspection" {
		t.Errorf("supervisor sees by=%q state=%q note=%q", who, state, note)
	}
	var detail string
	run(t, super, "readings behind the alert", chromedp.Text(`#detail`, &detail))
	if strings.Contains(detail, "L898902C3") || strings.Contains(detail, "ERIKSSON") {
		t.Errorf("dashboard shows personal data: %s", detail)
	}
	if !strings.Contains(detail, "скрыто") {
		t.Errorf("withheld fields not marked in the detail: %s", detail)
	}

	// Health: the box and its reader are up.
	run(t, super, "health view",
		chromedp.Click(`#nav button[data-view="health"]`),
		chromedp.WaitVisible(`.box[data-box="booth-01"] tr.dev[data-device="reader1"]`),
		chromedp.FullScreenshot(&png, 100),
	)
	artifact(t, "dash-health-ru.png", png)

	run(t, super, "weekly summary",
		chromedp.Click(`#nav button[data-view="summary"]`),
		chromedp.WaitVisible(`#summary .sum-grid`),
		chromedp.FullScreenshot(&png, 100),
	)
	artifact(t, "dash-summary-ru.png", png)
}
