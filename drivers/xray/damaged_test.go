package xray

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/drivers/xray/dicos"
	"github.com/kordon/kordon/drivers/xray/dicos/dicostest"
	"github.com/kordon/kordon/internal/reading"
)

const graceShort = "{poll: 10ms, image_wait: 0s, incomplete_grace: 30ms}"

// TestAlarmCutAfterThreatListIsAnAlarm: a report cut just after its threat
// list (no decision, no counts) whose explosive is flagged THREAT is an
// alarm, marked damaged, never a clear.
func TestAlarmCutAfterThreatListIsAnAlarm(t *testing.T) {
	s := dicostest.FlaggedSpec()
	s.CutAfterThreats = true
	b := dicostest.TDRFile(t, s)
	_, tdr, err := dicos.Parse(bytes.NewReader(b), int64(len(b)))
	if err != nil || tdr == nil {
		t.Fatalf("parse: %v", err)
	}
	if !tdr.Alarm() || tdr.Decision != "" || len(tdr.Missing) == 0 {
		t.Fatalf("cut report: alarm %v, decision %q, missing %v", tdr.Alarm(), tdr.Decision, tdr.Missing)
	}
	r := startRig(t, "", graceShort)
	r.write(t, "cut-after.dcs", b)
	r.out.Wait(t, 10*time.Second, "a reading", func(o *drivertest.Output) bool { return len(o.Readings()) == 1 })
	rd := r.out.Readings()[0]
	p := rd.Payload.(Report)
	if !p.Alarm || !p.Damaged || rd.Quality.Status != reading.Suspect || p.Objects[0].Flag != "THREAT" {
		t.Errorf("reading %+v", rd)
	}
	drivertest.Validate(t, r.out.Readings())
}

// TestReportCutInsideThreatListIsAReading: a report cut inside its threat
// list is a reading, not a counter: an alarm when a THREAT flag was written
// before the cut, else a damaged (non-alarm) report the default rules
// alert on.
func TestReportCutInsideThreatListIsAReading(t *testing.T) {
	full := dicostest.TDRFile(t, dicostest.FlaggedSpec())
	flag := bytes.Index(full, []byte("THREAT"))
	seq := bytes.Index(full, []byte{0x10, 0x40, 0x11, 0x10}) // ThreatSequence
	if flag < 0 || seq < 0 {
		t.Fatal("test file lacks its threat flag or sequence")
	}
	for _, tc := range []struct {
		name  string
		cut   int
		alarm bool
	}{
		{"after the first flag", flag + 12, true},
		{"before any flag", seq + 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRig(t, "", graceShort)
			r.write(t, "cut-inside.dcs", full[:tc.cut])
			r.out.Wait(t, 10*time.Second, "a reading", func(o *drivertest.Output) bool { return len(o.Readings()) == 1 })
			rd := r.out.Readings()[0]
			p := rd.Payload.(Report)
			if p.Alarm != tc.alarm || !p.Damaged || rd.Quality.Status != reading.Suspect {
				t.Errorf("cut at %d: alarm %v damaged %v quality %+v", tc.cut, p.Alarm, p.Damaged, rd.Quality)
			}
			if r.out.Counts()["files_unparsed"] != 0 {
				t.Errorf("counted as unparsed: %v", r.out.Counts())
			}
			drivertest.Validate(t, r.out.Readings())
		})
	}
}

// TestOperatorDecisionBagAndScanInPayload: who decided, and which bag and
// scan, travel with the report.
func TestOperatorDecisionBagAndScanInPayload(t *testing.T) {
	r := startRig(t, "", fastNoImageWait)
	m := dicostest.FlaggedSpec()
	op := dicostest.FlaggedSpec()
	op.UID, op.TDRType, op.Decision, op.Alarms = "1.2.826.0.1.3680043.9.7.1.9", "OPERATOR", "CLEAR", 0
	r.write(t, "a-machine.dcs", dicostest.TDRFile(t, m))
	r.write(t, "b-operator.dcs", dicostest.TDRFile(t, op))
	r.out.Wait(t, 10*time.Second, "two readings", func(o *drivertest.Output) bool { return len(o.Readings()) == 2 })
	got := map[string]Report{}
	for _, rd := range r.out.Readings() {
		p := rd.Payload.(Report)
		got[p.DecidedBy] = p
	}
	if p := got["machine"]; !p.Alarm || p.TDRType != "MACHINE" || p.BagID != "BAG-20261101-0042" || p.ScanUID != m.ScanUID {
		t.Errorf("machine report %+v", p)
	}
	if p := got["operator"]; p.Alarm || p.TDRType != "OPERATOR" || p.BagID != "BAG-20261101-0042" {
		t.Errorf("operator report %+v", p)
	}
	drivertest.Validate(t, r.out.Readings())
}

// TestReportInDatedSubfolderIsRead: scanners file exports by date.
func TestReportInDatedSubfolderIsRead(t *testing.T) {
	r := startRig(t, "", fastNoImageWait)
	sub := filepath.Join(r.dir, "2026", "11", "01")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	r.write(t, filepath.Join("2026", "11", "01", "scan-0001-tdr.dcs"), dicostest.TDRFile(t, dicostest.AlarmSpec()))
	r.out.Wait(t, 10*time.Second, "the report in the subfolder", func(o *drivertest.Output) bool { return len(o.Readings()) == 1 })
	if p := r.out.Readings()[0].Payload.(Report); p.File.Path != filepath.Join(sub, "scan-0001-tdr.dcs") || !p.Alarm {
		t.Errorf("report %+v", p.File)
	}
}

// TestReportTextsAreBounded: a 10 kB threat description and an overlong
// category are cut to what the schema allows, so the hub never refuses
// the reading.
func TestReportTextsAreBounded(t *testing.T) {
	r := startRig(t, "", fastNoImageWait)
	s := dicostest.AlarmSpec()
	s.Objects[0].Desc = strings.Repeat("Ä long description ", 600)
	s.Objects[1].Category = strings.Repeat("C", 200)
	r.write(t, "long.dcs", dicostest.TDRFile(t, s))
	r.out.Wait(t, 10*time.Second, "a reading", func(o *drivertest.Output) bool { return len(o.Readings()) == 1 })
	p := r.out.Readings()[0].Payload.(Report)
	if len(p.Objects[0].Description) > 256 || len(p.Objects[1].Category) > 64 || !strings.HasSuffix(p.Objects[0].Description, "...") {
		t.Errorf("texts not bounded: %d, %d bytes", len(p.Objects[0].Description), len(p.Objects[1].Category))
	}
	drivertest.Validate(t, r.out.Readings())
}
