package xray_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/xray"
	"github.com/kordon/kordon/e2e/stationtest"
	"github.com/kordon/kordon/internal/reading"
)

// TestAlarmReportReachesHubAsReadingAndAlert: a DICOS TDR with an alarm,
// dropped (renamed into place) into the watched folder of a real edged,
// becomes a reading over MQTT at a real hub and raises the xray-tdr-alarm alert.
func TestAlarmReportReachesHubAsReadingAndAlert(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := stationtest.StartHub(t, map[string]string{"booth-07": "pw7"})
	rec := stationtest.Subscribe(t, h)
	dir := t.TempDir()
	stationtest.StartBox(t, ctx, h, "booth-07", "pw7", `
  - id: xray1
    driver: dicos
    transport: {type: folder, path: `+dir+`}
    options: {poll: 50ms}
`)
	rec.DeviceUp(t, "booth-07", "xray1")

	drop := func(name string, b []byte) {
		tmp := filepath.Join(dir, name+".part")
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	drop("0001-image.dcs", xray.AlarmImageFile(t))
	drop("0001-tdr.dcs", xray.AlarmReportFile(t))

	alerts := rec.Alerts(t, 1, 30*time.Second)
	a := alerts[0]
	if a.Rule != "xray-tdr-alarm" || a.Box != "booth-07" || a.Device != "xray1" || a.Severity != "high" {
		t.Errorf("alert %+v", a)
	}
	if !strings.Contains(a.Summary, "2 object(s)") || !strings.Contains(a.Summary, "EXPLOSIVE") {
		t.Errorf("alert summary %q", a.Summary)
	}
	msgs := rec.Readings(t, "booth-07", "xray1", 1, 10*time.Second)
	var r reading.Reading
	if err := json.Unmarshal(msgs[0], &r); err != nil {
		t.Fatal(err)
	}
	var p xray.Report
	if err := json.Unmarshal(r.Payload.(reading.Received).JSON, &p); err != nil {
		t.Fatal(err)
	}
	if r.Kind() != "threat_report" || !p.Alarm || len(p.Objects) != 2 || len(p.Images) != 1 || !p.Images[0].Found {
		t.Errorf("reading at hub: %s", msgs[0])
	}
	// The image travels by reference only: the message is small.
	if len(msgs[0]) > 4096 {
		t.Errorf("reading is %d bytes; images must not travel inside MQTT", len(msgs[0]))
	}
	if c := h.Counters(); c.Readings != 1 || c.Alerts != 1 {
		t.Errorf("hub counters %+v", c)
	}
}

// TestDamagedReportsAlertAtHub: a report cut inside its threat list after
// a THREAT flag raises xray-tdr-alarm; one cut before any flag raises
// xray-tdr-damaged. Neither is only a counter on the box.
func TestDamagedReportsAlertAtHub(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := stationtest.StartHub(t, map[string]string{"booth-07": "pw7"})
	rec := stationtest.Subscribe(t, h)
	dir := t.TempDir()
	stationtest.StartBox(t, ctx, h, "booth-07", "pw7", `
  - id: xray1
    driver: dicos
    transport: {type: folder, path: `+dir+`}
    options: {poll: 50ms, image_wait: 0s, incomplete_grace: 200ms}
`)
	rec.DeviceUp(t, "booth-07", "xray1")
	if err := os.WriteFile(filepath.Join(dir, "0002-tdr.dcs"), xray.CutAlarmReportFile(t), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "0003-tdr.dcs"), xray.DamagedReportFile(t), 0o644); err != nil {
		t.Fatal(err)
	}
	alerts := rec.Alerts(t, 2, 30*time.Second)
	rules := map[string]bool{}
	for _, a := range alerts {
		rules[a.Rule] = true
	}
	if !rules["xray-tdr-alarm"] || !rules["xray-tdr-damaged"] {
		t.Errorf("alerts %+v, want xray-tdr-alarm and xray-tdr-damaged", alerts)
	}
}
