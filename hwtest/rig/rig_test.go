package rig

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/all"
	"github.com/kordon/kordon/hwtest/harness"
)

func runRig(t *testing.T, path string) *Result {
	t.Helper()
	r, err := Load(path, all.Drivers())
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), r, all.Drivers(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// The example rig runs green through the real edged pipeline and hub:
// golden readings match and the expected alert is raised.
func TestExampleRigPasses(t *testing.T) {
	res := runRig(t, "../../rigs/two-readers.yaml")
	var out bytes.Buffer
	res.WriteText(&out)
	if res.Failed() {
		t.Fatalf("rig failed:\n%s", out.String())
	}
	if n := len(res.Readings["reader1"]); n != 2 {
		t.Errorf("reader1: %d readings at the hub, want 2", n)
	}
	byRule := map[string][]string{}
	for _, a := range res.Alerts {
		byRule[a.Rule] = append(byRule[a.Rule], a.Device)
	}
	if d := byRule["document-check-failed"]; len(d) != 1 || d[0] != "reader2" {
		t.Errorf("check-failed alerts on %v, want one on reader2", d)
	}
	if d := byRule["document-expired"]; len(d) != 2 || d[0] != "reader1" || d[1] != "reader1" {
		t.Errorf("expired alerts on %v, want two on reader1 (the 2012 specimen)", d)
	}
	if len(res.Alerts) != 3 {
		t.Errorf("%d alerts, want 3", len(res.Alerts))
	}
	if res.HubCounters == nil || res.HubCounters.Readings != 3 {
		t.Errorf("hub counters %+v, want 3 readings stored", res.HubCounters)
	}
	t.Logf("\n%s", out.String())
}

// The done-when rig: a passport reader and a fever-screening thermometer
// run green, with the fever alert raised once by the real hub.
func TestBoothRigPasses(t *testing.T) {
	res := runRig(t, "../../rigs/booth-passport-thermometer.yaml")
	var out bytes.Buffer
	res.WriteText(&out)
	if res.Failed() {
		t.Fatalf("rig failed:\n%s", out.String())
	}
	if len(res.Readings["thermo1"]) == 0 || len(res.Readings["reader1"]) != 2 {
		t.Errorf("readings at the hub: %d thermometer, %d passport", len(res.Readings["thermo1"]), len(res.Readings["reader1"]))
	}
	t.Logf("\n%s", out.String())
}

// A temperature off by more than its tolerance is reported with both
// values, by how much, and the tolerance; within tolerance it passes.
func TestThermometerToleranceAndDiff(t *testing.T) {
	dir := t.TempDir()
	golden, err := os.ReadFile("../../drivers/thermometer/testdata/golden/calex-fever.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(golden), []byte("\n"))
	var g map[string]any
	if err := json.Unmarshal(lines[0], &g); err != nil {
		t.Fatal(err)
	}
	p := g["payload"].(map[string]any)
	c, ok := p["celsius"].(float64)
	if !ok {
		t.Fatalf("first golden reading has no celsius: %s", lines[0])
	}
	abs, _ := filepath.Abs("../../drivers/thermometer/testdata/traces/calex-fever.jsonl")
	for _, tc := range []struct {
		name  string
		shift float64
		pass  bool
	}{{"within", 0.04, true}, {"beyond", 0.5, false}} {
		t.Run(tc.name, func(t *testing.T) {
			p["celsius"] = c + tc.shift
			first, _ := json.Marshal(g)
			lines := append([][]byte{first}, lines[1:]...)
			os.WriteFile(filepath.Join(dir, tc.name+".jsonl"), bytes.Join(lines, []byte("\n")), 0o644)
			rigFile := filepath.Join(dir, tc.name+".yaml")
			os.WriteFile(rigFile, []byte("rig: "+tc.name+"\ndevices:\n  - id: thermo1\n    trace: "+abs+"\n    golden: "+tc.name+".jsonl\n    tolerance: {values: {/payload/celsius: 0.05}}\n"), 0o644)
			res := runRig(t, rigFile)
			var out bytes.Buffer
			res.WriteText(&out)
			if res.Failed() == tc.pass {
				t.Fatalf("failed=%v, want %v:\n%s", res.Failed(), !tc.pass, out.String())
			}
			if !tc.pass {
				want := fmt.Sprintf("reading 1 (seq 1): /payload/celsius: want %s, got %s (off by 0.5", strconv.FormatFloat(c+0.5, 'f', -1, 64), strconv.FormatFloat(c, 'f', -1, 64))
				if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "tolerance 0.05") {
					t.Errorf("report lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

// A deliberately wrong golden file turns the rig red, and the report names
// the device, the reading and the field that differ, with both values.
func TestWrongGoldenFailsWithPreciseDiff(t *testing.T) {
	dir := t.TempDir()
	golden, err := os.ReadFile("../../drivers/passport/testdata/golden/line-td3-specimen.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitN(golden, []byte("\n"), 2)
	lines[1] = bytes.Replace(lines[1], []byte(`"number":"L898902C3"`), []byte(`"number":"L898902C4"`), 1)
	wrong := filepath.Join(dir, "wrong.jsonl")
	os.WriteFile(wrong, bytes.Join(lines, []byte("\n")), 0o644)
	abs, _ := filepath.Abs("../../drivers/passport/testdata/traces/line-td3-specimen.jsonl")
	rigFile := filepath.Join(dir, "rig.yaml")
	os.WriteFile(rigFile, []byte("rig: wrong-golden\ndevices:\n  - id: reader1\n    trace: "+abs+"\n    golden: wrong.jsonl\n"), 0o644)

	res := runRig(t, rigFile)
	if !res.Failed() {
		t.Fatal("rig passed with a wrong golden file")
	}
	var out bytes.Buffer
	res.WriteText(&out)
	want := `reading 2 (seq 2): /payload/number: want "L898902C4", got "L898902C3"`
	if !strings.Contains(out.String(), want) {
		t.Errorf("report does not name the difference %q:\n%s", want, out.String())
	}
	var x bytes.Buffer
	if err := res.WriteJUnit(&x); err != nil {
		t.Fatal(err)
	}
	var suites junitSuites
	if err := xml.Unmarshal(x.Bytes(), &suites); err != nil {
		t.Fatalf("JUnit output is not XML: %v\n%s", err, x.String())
	}
	s := suites.Suites[0]
	if s.Tests != 1 || s.Failures != 1 || s.Cases[0].Failure == nil || !strings.Contains(s.Cases[0].Failure.Text, want) {
		t.Errorf("JUnit does not carry the failure:\n%s", x.String())
	}
}

// Unplugging the reader in the middle of a row costs that document only:
// edged reopens the port when the device comes back, the torn rest is
// reported as a bad (incomplete) read, and the next document reads normally.
func TestUnplugMidFrameFault(t *testing.T) {
	dir := t.TempDir()
	abs, _ := filepath.Abs("../../drivers/passport/testdata/traces/line-td3-specimen.jsonl")
	rigFile := filepath.Join(dir, "rig.yaml")
	os.WriteFile(rigFile, []byte(`rig: unplug
devices:
  - id: reader1
    trace: `+abs+`
    faults:
      - {kind: unplug, byte: 60, for: 1s}
    expect: {unplugs: 1}
`), 0o644)
	res := runRig(t, rigFile)
	var out bytes.Buffer
	res.WriteText(&out)
	if res.Failed() {
		t.Fatalf("rig failed:\n%s", out.String())
	}
	rs := res.Readings["reader1"]
	if len(rs) == 0 {
		t.Fatalf("no readings:\n%s", out.String())
	}
	for _, r := range rs[:len(rs)-1] {
		if r.Quality.Status == "ok" {
			t.Errorf("a document torn by the unplug was read as ok: %+v", r.Quality)
		}
	}
	want, _ := harness.ReadGolden("../../drivers/passport/testdata/golden/line-td3-specimen.jsonl")
	diffs, err := harness.Compare(rs[len(rs)-1:], want[1:], harness.Tolerance{}, nil)
	if err != nil || len(diffs) > 0 {
		t.Errorf("the document after the replug: %v %s", err, harness.JoinDiffs(diffs))
	}
}

// Rig files are checked before anything runs; errors name file and line.
func TestRigFileErrors(t *testing.T) {
	dir := t.TempDir()
	abs, _ := filepath.Abs("../../drivers/passport/testdata/traces/line-td3-specimen.jsonl")
	for src, want := range map[string]string{
		"rig: x\n":                             "no devices",
		"rig: x\ncolour: red\n":                "colour",
		"devices:\n  - id: r1\n":               ":2: device r1: trace missing",
		"devices:\n  - id: R1\n    trace: x\n": "lower-case",
		"devices:\n  - id: r1\n    trace: " + abs + "\n    driver: nosuch\n":                   "unknown driver",
		"devices:\n  - id: r1\n    trace: " + abs + "\n    options: {framing: smoke}\n":        "framing",
		"devices:\n  - id: r1\n    trace: " + abs + "\n    faults: [{kind: melt}]\n":           "unknown fault",
		"devices:\n  - id: r1\n    trace: " + abs + "\nalerts:\n  - rule: x\n    device: r9\n": "not a rig device",
	} {
		p := filepath.Join(dir, "rig.yaml")
		os.WriteFile(p, []byte(src), 0o644)
		_, err := Load(p, all.Drivers())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("rig %q: error %v, want %q", src, err, want)
		}
	}
}

// Long runs show progress.
func TestProgressOnLongRuns(t *testing.T) {
	r, err := Load("../../rigs/two-readers.yaml", all.Drivers())
	if err != nil {
		t.Fatal(err)
	}
	r.Speed = 1 // the specimen trace lasts 3.55 s on its own timing
	var progress bytes.Buffer
	res, err := Run(context.Background(), r, all.Drivers(), Options{Progress: &progress, ProgressEvery: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed() {
		var out bytes.Buffer
		res.WriteText(&out)
		t.Fatalf("rig failed:\n%s", out.String())
	}
	if !strings.Contains(progress.String(), "reader1 ") || !strings.Contains(progress.String(), "events (") {
		t.Errorf("no progress lines:\n%s", progress.String())
	}
}
