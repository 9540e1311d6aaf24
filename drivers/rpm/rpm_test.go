package rpm

import (
	"context"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/drivers/rpm/n42"
	"github.com/kordon/kordon/drivers/rpm/record"
	"github.com/kordon/kordon/hwtest/goldentest"
	"github.com/kordon/kordon/hwtest/harness"
	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/transport"
)

var update = flag.Bool("update", false, "rewrite golden files from the driver's output")

func events(rs []reading.Reading, name string) []Event {
	var out []Event
	for _, r := range rs {
		if e := r.Payload.(Event); e.Event == name {
			out = append(out, e)
		}
	}
	return out
}

// TestGoldenTraces replays every RPM trace through a pty into the real
// serial path and checks the behaviours each trace exists for.
func TestGoldenTraces(t *testing.T) {
	cols := goldentest.Run(t, "testdata", Driver(), goldentest.Options{Update: *update})
	if *update {
		return
	}
	for _, tc := range []struct {
		name        string
		occupancies int
		alarms      int
		alarmedEnds int
	}{
		{"normal", 1, 0, 0},
		{"source", 2, 1, 1},
		{"rain", 4, 0, 0},
		{"malformed", 1, 0, 0},
		{"silent", 0, 0, 0},
		{"step", 10, 2, 2},
		{"step-implausible", 1, 0, 0},
		{"neutron-low", 200, 0, 0},
	} {
		c := cols.Get(t, tc.name)
		rs := c.Readings()
		starts, alarms, ends := events(rs, "occupancy_start"), events(rs, "alarm"), events(rs, "occupancy_end")
		alarmedEnds := 0
		for _, e := range ends {
			if e.Alarm != nil {
				alarmedEnds++
			}
		}
		if len(starts) != tc.occupancies || len(ends) != tc.occupancies || len(alarms) != tc.alarms || alarmedEnds != tc.alarmedEnds {
			t.Errorf("%s: %d starts, %d ends, %d alarms, %d alarmed ends; want %d, %d, %d, %d",
				tc.name, len(starts), len(ends), len(alarms), alarmedEnds, tc.occupancies, tc.occupancies, tc.alarms, tc.alarmedEnds)
		}
	}
	{
		c := cols.Get(t, "source")
		if a := events(c.Readings(), "alarm"); len(a) == 1 {
			if a[0].Alarm.Channel != "gamma" || a[0].Alarm.Detector > 2 || a[0].Alarm.Source != "computed" || a[0].Occupancy != 1 {
				t.Errorf("source alarm %+v", a[0].Alarm)
			}
		}
	}
	// A background that steps up and stays is accepted after step_samples
	// background samples with one notice: only the vehicles inside the
	// hold alarm, not every vehicle after it.
	{
		c := cols.Get(t, "step")
		rs := c.Readings()
		changes := events(rs, "background_change")
		if len(changes) != 1 || changes[0].Change.Channel != "gamma" || changes[0].Change.Factor < 1.3 || changes[0].Change.Factor > 1.5 {
			t.Errorf("step: background changes %+v, want one gamma change of about x1.4", changes)
		}
		for _, a := range events(rs, "alarm") {
			if a.Occupancy > 2 {
				t.Errorf("step: vehicle %d alarmed after the new background was accepted", a.Occupancy)
			}
		}
	}
	// An implausible jump is accepted too (the lane must not alarm for
	// ever), but as a fault reading of quality bad.
	{
		c := cols.Get(t, "step-implausible")
		var faults []reading.Reading
		for _, r := range c.Readings() {
			if e := r.Payload.(Event); e.Event == "fault" && e.Fault == "background" && e.Change != nil && e.Change.Factor > 4 {
				faults = append(faults, r)
			}
		}
		if len(faults) != 1 || faults[0].Quality.Status != reading.Bad || len(events(c.Readings(), "background_change")) != 0 {
			t.Errorf("step-implausible: %d background faults, want 1 of quality bad", len(faults))
		}
	}
	{
		c := cols.Get(t, "malformed")
		n := c.Counts()
		// abc, -5 and the bare GS are bad; GB with 3 detectors is bad; noise,
		// hello world and the torn GB,25 line do not parse; ZZ is unknown.
		if n["records_unknown"] != 1 || n["records_bad"] != 7 {
			t.Errorf("malformed counts %v, want 1 unknown, 7 bad", n)
		}
	}
	{
		c := cols.Get(t, "faults")
		var got []string
		for _, r := range c.Readings() {
			e := r.Payload.(Event)
			got = append(got, e.Event+e.Fault)
		}
		if strings.Join(got, " ") != "faultGH fault_clearGH tamper tamper_clear faultNH fault_clearNH" {
			t.Errorf("faults trace events: %v", got)
		}
	}
}

// TestSilenceReportsDown: a monitor that stops sending is reported down.
func TestSilenceReportsDown(t *testing.T) {
	p, err := replay.OpenPTY("")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cfg := drivertest.Config(t, "silence: 200ms", drivertest.Transport(transport.Config{Type: "serial", Path: p.Path}))
	dev, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := drivertest.NewOutput()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go dev.Run(ctx, out)
	out.Wait(t, 10*time.Second, "up", func(o *drivertest.Output) bool { return o.Has("up") })
	p.Device.Write([]byte("GB,250,250,250,250\r\n"))
	out.Wait(t, 10*time.Second, "down after silence", func(o *drivertest.Output) bool { return o.Has("down:timeout") })
}

// TestAlarmedOccupancyIsExportedAsN42: with n42_dir, the source trace's
// alarmed occupancy is written as N42.42-style XML, referenced by path and
// SHA-256 from the occupancy_end reading.
func TestAlarmedOccupancyIsExportedAsN42(t *testing.T) {
	dir := t.TempDir()
	tr, err := trace.ReadFile("testdata/traces/source.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	tr.Header.Options = map[string]any{"k": 5, "n42_dir": dir, "instrument": "portal-lane1"}
	col, err := harness.ReplayThroughPTY(context.Background(), Driver(), tr, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ref *FileRef
	for _, e := range events(col.Readings(), "occupancy_end") {
		if e.Alarm != nil {
			ref = e.N42
		}
	}
	if ref == nil {
		t.Fatal("alarmed occupancy_end carries no n42 reference")
	}
	b, err := os.ReadFile(ref.Path)
	if err != nil {
		t.Fatal(err)
	}
	if sha256Hex(b) != ref.SHA256 || filepath.Dir(ref.Path) != dir {
		t.Errorf("n42 ref %+v does not match the file", ref)
	}
	var doc struct {
		XMLName   xml.Name `xml:"RadInstrumentData"`
		Detectors []struct {
			ID string `xml:"id,attr"`
		} `xml:"RadInstrumentInformation"`
		Measurements []struct {
			Class  string `xml:"MeasurementClassCode"`
			Counts []struct {
				Det  string `xml:"radDetectorInformationReference,attr"`
				Data string `xml:"CountData"`
			} `xml:"GrossCounts"`
		} `xml:"RadMeasurement"`
		Alarm struct {
			Category string `xml:"RadAlarmCategoryCode"`
			Desc     string `xml:"RadAlarmDescription"`
		} `xml:"AnalysisResults>RadAlarm"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.XMLName.Space != n42.NS {
		t.Errorf("namespace %q", doc.XMLName.Space)
	}
	// background + 25 gamma + 25 neutron samples
	if len(doc.Measurements) != 51 || doc.Measurements[0].Class != "Background" || doc.Measurements[1].Class != "Foreground" || len(doc.Measurements[1].Counts) != 4 {
		t.Errorf("%d measurements; first %+v", len(doc.Measurements), doc.Measurements[0])
	}
	if doc.Alarm.Category != "Gamma" || !strings.Contains(doc.Alarm.Desc, "k=5") {
		t.Errorf("alarm %+v", doc.Alarm)
	}
	// Only alarmed occupancies are exported.
	if files, _ := filepath.Glob(filepath.Join(dir, "*.n42")); len(files) != 1 {
		t.Errorf("%d n42 files, want 1", len(files))
	}
}

func TestKIsConfigurable(t *testing.T) {
	tr, err := trace.ReadFile("testdata/traces/normal.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	// k=0.5 is far too tight: Poisson noise alone exceeds it. The alarm
	// still comes once per occupancy.
	tr.Header.Options = map[string]any{"k": 0.5}
	col, err := harness.ReplayThroughPTY(context.Background(), Driver(), tr, 0)
	if err != nil {
		t.Fatal(err)
	}
	// With shadowing the scan samples sit below background: no alarm even at k=0.5 unless noise pokes above.
	if n := len(events(col.Readings(), "alarm")); n > 1 {
		t.Errorf("%d alarms in one occupancy", n)
	}
}

func TestBackgroundTrackingIgnoresAParkedSource(t *testing.T) {
	tk := newTracker(defaultOptions())
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 20; i++ {
		tk.add(record.Record{Tag: record.GammaBackground, Counts: []int{250, 250}}, at)
	}
	for i := 0; i < 5; i++ {
		tk.add(record.Record{Tag: record.GammaBackground, Counts: []int{900, 250}}, at)
	}
	if m := tk.gamma.Mean(0); m > 251 {
		t.Errorf("background followed a parked source to %.1f", m)
	}
	evs, _ := tk.add(record.Record{Tag: record.GammaScan, Counts: []int{500, 250}}, at)
	if len(evs) != 2 || evs[1].e.Event != "alarm" {
		t.Errorf("scan above a clean background did not alarm: %+v", evs)
	}
}

func TestOptionsAreValidated(t *testing.T) {
	for _, src := range []string{"false_alarm: 0", "false_alarm: 1", "k: -1", "k: 31", "window: 0", "reference_samples: 0",
		"background_samples: 0", "neutron_background_samples: 0", "min_background: 0", "step_hold: 0s", "step_fault: 1",
		"silence: -1s", "n42_dir: relative/dir", "colour: red"} {
		if _, err := New(drivertest.Config(t, src)); err == nil {
			t.Errorf("options %q accepted", src)
		}
	}
}

func BenchmarkTrackerScan(b *testing.B) {
	tk := newTracker(defaultOptions())
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 10; i++ {
		tk.add(record.Record{Tag: record.GammaBackground, Counts: []int{250, 250, 250, 250}}, at)
	}
	rec := record.Record{Tag: record.GammaScan, Counts: []int{240, 251, 249, 260}}
	for b.Loop() {
		tk.add(rec, at)
		if len(tk.occ.samples) > 1000 {
			tk.occ = nil
		}
	}
}
