package xray

import (
	"bytes"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/suyashkumar/dicom/pkg/uid"
)

// pto is one potential threat object for a synthetic report.
type pto struct {
	id       int
	category string
	prob     float64
	polygon  []float64
	image    string
	// nested writes the item the way real DICOS does (assessment and
	// representation sub-sequences); flat writes the tags in the item.
	nested bool
	flag   string // ATDAssessmentFlag; "" omits
	desc   string // ThreatCategoryDescription; "" omits
}

type tdrSpec struct {
	uid      string
	decision string // ALARM, CLEAR, UNKNOWN; "" omits the tag
	time     string // DICOM DT; "" omits
	alarms   int
	objects  []pto
	total    int // NumberOfTotalObjects; -1 omits
	tdrType  string
	bag      string // PatientID (the object of inspection's id)
	scanUID  string // StudyInstanceUID
	// cutAfterThreats ends the file right after the threat sequence, as a
	// writer that died there leaves it.
	cutAfterThreats bool
}

func el(t testing.TB, tg tag.Tag, v any) *dicom.Element {
	t.Helper()
	e, err := dicom.NewElement(tg, v)
	if err != nil {
		t.Fatalf("NewElement %v: %v", tg, err)
	}
	return e
}

// tdrFile writes a DICOS Threat Detection Report with the library's writer.
func tdrFile(t testing.TB, s tdrSpec) []byte {
	t.Helper()
	es := []*dicom.Element{
		el(t, tag.MediaStorageSOPClassUID, []string{SOPClassTDR}),
		el(t, tag.MediaStorageSOPInstanceUID, []string{s.uid}),
		el(t, tag.TransferSyntaxUID, []string{uid.ExplicitVRLittleEndian}),
		el(t, tag.SOPClassUID, []string{SOPClassTDR}),
		el(t, tag.SOPInstanceUID, []string{s.uid}),
	}
	if s.bag != "" {
		es = append(es, el(t, tag.PatientID, []string{s.bag}))
	}
	if s.scanUID != "" {
		es = append(es, el(t, tag.StudyInstanceUID, []string{s.scanUID}))
	}
	var seq [][]*dicom.Element
	for _, o := range s.objects {
		id := el(t, tag.PotentialThreatObjectID, []int{o.id})
		cat := el(t, tag.ThreatCategory, []string{o.category})
		prob := el(t, tag.ATDAssessmentProbability, []float64{o.prob})
		poly := el(t, tag.BoundingPolygon, o.polygon)
		ref := el(t, tag.ReferencedInstanceSequence, [][]*dicom.Element{{
			el(t, tag.ReferencedSOPClassUID, []string{"1.2.840.10008.5.1.4.1.1.501.2.1"}),
			el(t, tag.ReferencedSOPInstanceUID, []string{o.image}),
		}})
		assess := []*dicom.Element{cat}
		if o.desc != "" {
			assess = append(assess, el(t, tag.ThreatCategoryDescription, []string{o.desc}))
		}
		if o.flag != "" {
			assess = append(assess, el(t, tag.ATDAssessmentFlag, []string{o.flag}))
		}
		assess = append(assess, prob)
		if o.nested {
			seq = append(seq, []*dicom.Element{id,
				el(t, tag.ATDAssessmentSequence, [][]*dicom.Element{assess}),
				el(t, tag.PTORepresentationSequence, [][]*dicom.Element{{ref, poly}}),
			})
		} else {
			seq = append(seq, append(append([]*dicom.Element{id}, assess...), poly, ref))
		}
	}
	// Ascending tag order, as exporters write: ThreatSequence (4010,1011),
	// AlarmDecisionTime (102B), AlarmDecision (1031), totals (1033), alarms (1034).
	es = append(es, el(t, tag.ThreatSequence, seq))
	if s.cutAfterThreats {
		var b bytes.Buffer
		if err := dicom.Write(&b, dicom.Dataset{Elements: es}); err != nil {
			t.Fatalf("dicom.Write: %v", err)
		}
		return b.Bytes()
	}
	if s.tdrType != "" {
		es = append(es, el(t, tag.TDRType, []string{s.tdrType}))
	}
	if s.time != "" {
		es = append(es, el(t, tag.AlarmDecisionTime, []string{s.time}))
	}
	if s.decision != "" {
		es = append(es, el(t, tag.AlarmDecision, []string{s.decision}))
	}
	if s.total >= 0 {
		es = append(es, el(t, tag.NumberOfTotalObjects, []int{s.total}))
	}
	es = append(es, el(t, tag.NumberOfAlarmObjects, []int{s.alarms}))
	var b bytes.Buffer
	if err := dicom.Write(&b, dicom.Dataset{Elements: es}); err != nil {
		t.Fatalf("dicom.Write: %v", err)
	}
	return b.Bytes()
}

// imageFile writes a tiny DICOS DX image header (no pixel data needed to
// be referenced by uid and hashed).
func imageFile(t testing.TB, instance string) []byte {
	t.Helper()
	const dx = "1.2.840.10008.5.1.4.1.1.501.2.1"
	es := []*dicom.Element{
		el(t, tag.MediaStorageSOPClassUID, []string{dx}),
		el(t, tag.MediaStorageSOPInstanceUID, []string{instance}),
		el(t, tag.TransferSyntaxUID, []string{uid.ExplicitVRLittleEndian}),
		el(t, tag.SOPClassUID, []string{dx}),
		el(t, tag.SOPInstanceUID, []string{instance}),
		el(t, tag.Rows, []int{2}),
		el(t, tag.Columns, []int{2}),
	}
	var b bytes.Buffer
	if err := dicom.Write(&b, dicom.Dataset{Elements: es}); err != nil {
		t.Fatalf("dicom.Write: %v", err)
	}
	return b.Bytes()
}

func alarmSpec() tdrSpec {
	return tdrSpec{uid: "1.2.826.0.1.3680043.9.7.1.2", decision: "ALARM", time: "20261101090500.000000+0500", alarms: 1, total: 2,
		objects: []pto{
			{id: 1, category: "EXPLOSIVE", prob: 0.91, polygon: []float64{10, 20, 110, 20, 110, 80, 10, 80}, image: "1.2.826.0.1.3680043.9.7.1.1", nested: true},
			{id: 2, category: "ANOMALY", prob: 0.2, polygon: []float64{200, 40, 240, 40, 240, 90}, image: "1.2.826.0.1.3680043.9.7.1.1"},
		}}
}

func TestParseAlarmReport(t *testing.T) {
	b := tdrFile(t, alarmSpec())
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
	b := tdrFile(t, tdrSpec{uid: "1.2.3.4", decision: "CLEAR", time: "20261101090000", alarms: 0, total: 0})
	_, r, err := Parse(bytes.NewReader(b), int64(len(b)))
	if err != nil || r == nil || r.Alarm() || len(r.Objects) != 0 || len(r.Missing) != 0 || !r.TimeNoOffset {
		t.Fatalf("clear report: %+v %v", r, err)
	}
	img := imageFile(t, "9.8.7")
	h, r, err := Parse(bytes.NewReader(img), int64(len(img)))
	if err != nil || r != nil || h.SOPInstanceUID != "9.8.7" {
		t.Fatalf("image: %+v %v %v", h, r, err)
	}
}

func TestTruncatedReportsAreErrors(t *testing.T) {
	b := tdrFile(t, alarmSpec())
	for n := 0; n < len(b); n++ {
		_, r, err := Parse(bytes.NewReader(b[:n]), int64(n))
		if err == nil && r != nil && len(r.Missing) == 0 {
			t.Fatalf("report cut at %d of %d bytes parsed as complete: %+v", n, len(b), r)
		}
	}
}
