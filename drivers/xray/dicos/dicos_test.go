package dicos

import (
	"bytes"
	"testing"

	"github.com/kordon/kordon/drivers/xray/dicos/dicostest"
)

func TestParseAlarmReport(t *testing.T) {
	b := dicostest.TDRFile(t, dicostest.AlarmSpec())
	h, r, err := Parse(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if h.SOPClassUID != SOPClassTDR || r == nil || len(r.Missing) != 0 {
		t.Fatalf("header %+v, report %v", h, r)
	}
	if !r.Alarm() || r.Decision != "ALARM" || r.DecisionTime == nil || r.DecisionTime.Format("2006-01-02T15:04:05Z07:00") != "2026-11-01T04:05:00Z" {
		t.Errorf("decision %q at %v", r.Decision, r.DecisionTime)
	}
	if len(r.Objects) != 2 {
		t.Fatalf("%d objects", len(r.Objects))
	}
	o := r.Objects[0]
	if *o.ID != 1 || o.Category != "EXPLOSIVE" || o.Probability == nil || *o.Probability < 0.909 || *o.Probability > 0.911 || len(o.Polygon) != 8 || o.Polygon[2] != 110 || o.ImageUID != "1.2.826.0.1.3680043.9.7.1.1" {
		t.Errorf("nested object %+v", o)
	}
	if o := r.Objects[1]; *o.ID != 2 || o.Category != "ANOMALY" || len(o.Polygon) != 6 {
		t.Errorf("flat object %+v", o)
	}
	if len(r.ImageUIDs) != 1 {
		t.Errorf("image uids %v", r.ImageUIDs)
	}
}

func TestParseClearAndImage(t *testing.T) {
	b := dicostest.TDRFile(t, dicostest.Spec{UID: "1.2.3.4", Decision: "CLEAR", Time: "20261101090000", Alarms: 0, Total: 0})
	_, r, err := Parse(bytes.NewReader(b), int64(len(b)))
	if err != nil || r == nil || r.Alarm() || len(r.Objects) != 0 || len(r.Missing) != 0 || !r.TimeNoOffset {
		t.Fatalf("clear report: %+v %v", r, err)
	}
	img := dicostest.ImageFile(t, "9.8.7")
	h, r, err := Parse(bytes.NewReader(img), int64(len(img)))
	if err != nil || r != nil || h.SOPInstanceUID != "9.8.7" {
		t.Fatalf("image: %+v %v %v", h, r, err)
	}
}

func TestTruncatedReportsAreErrors(t *testing.T) {
	b := dicostest.TDRFile(t, dicostest.AlarmSpec())
	for n := 0; n < len(b); n++ {
		_, r, err := Parse(bytes.NewReader(b[:n]), int64(n))
		if err == nil && r != nil && len(r.Missing) == 0 {
			t.Fatalf("report cut at %d of %d bytes parsed as complete: %+v", n, len(b), r)
		}
	}
}
