package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kordon/kordon/drivers/all"
	"github.com/kordon/kordon/drivers/xray/xraytest"
	"github.com/kordon/kordon/edge"
	"github.com/kordon/kordon/internal/logging"
)

// TestXRayImageShownOnTheDashboard: an alarm report and its image dropped
// into the export folder of a real edged raise an alert at a real hub; an
// officer opens it on the dashboard, asks for the image, and sees the
// picture, fetched from the box over its MQTT link.
func TestXRayImageShownOnTheDashboard(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	h := startHub(t, map[string]string{"lane-3": "pw3"}, map[string]string{"officer1": "officer"})
	base := "http://" + h.HTTPAddr()
	dir := t.TempDir()
	src := fmt.Sprintf("crossing: %s\nbox: lane-3\nstate_dir: %s\nhub: {address: \"tcp://%s\", username: lane-3, password: pw3}\n"+
		"devices:\n  - id: xray1\n    driver: dicos\n    transport: {type: folder, path: %s}\n    options: {poll: 50ms}\n",
		crossing, t.TempDir(), h.MQTTAddr(), dir)
	cfg, devs, err := edge.ParseConfig("box.yaml", []byte(src), all.Drivers())
	if err != nil {
		t.Fatal(err)
	}
	bx, err := edge.New(cfg, devs, all.Drivers(), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	bctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); bx.Run(bctx) }()
	t.Cleanup(func() { stop(); <-done })

	tab := browser(t, ctx)()
	login(t, tab, base, "officer1", "en")
	for _, f := range []struct {
		name string
		b    []byte
	}{{"0001-image.dcs", xraytest.Image(t, 240, 320)}, {"0001-tdr.dcs", xraytest.AlarmReport(t)}} {
		tmp := filepath.Join(dir, f.name+".part")
		if err := os.WriteFile(tmp, f.b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, f.name)); err != nil {
			t.Fatal(err)
		}
	}
	alert := `#alerts > li[data-rule="xray-tdr-alarm"]`
	image := `#detail .evidence-file[data-pointer="/images/0"]`
	var size struct{ W, H int }
	var png []byte
	run(t, tab, "open the alert and ask for its image",
		chromedp.WaitVisible(alert),
		chromedp.Click(alert+` button.details`),
		chromedp.WaitVisible(image+` button.evidence-show`),
		chromedp.Click(image+` button.evidence-show`),
		chromedp.WaitVisible(image+` img.evidence-img`),
		chromedp.Evaluate(`(() => { const i = document.querySelector(`+"`"+image+` img.evidence-img`+"`"+`);
			return {W: i.complete ? i.naturalWidth : 0, H: i.complete ? i.naturalHeight : 0}; })()`, &size),
		chromedp.FullScreenshot(&png, 100),
	)
	artifact(t, "dash-xray-evidence-en.png", png)
	if size.W != 320 || size.H != 240 {
		t.Errorf("the picture shown is %dx%d, want 320x240", size.W, size.H)
	}
	log, err := h.EvidenceLog(ctx, 5)
	if err != nil || len(log) != 1 || log[0].User != "officer1" || log[0].Action != "view" || log[0].Outcome != "box" {
		t.Errorf("access log %+v %v", log, err)
	}
}
