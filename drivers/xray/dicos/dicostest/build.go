// Package dicostest writes synthetic DICOS files (Threat Detection Reports
// and image headers) with the DICOM library's own writer, for tests.
package dicostest

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/suyashkumar/dicom/pkg/uid"
)

// sopClassTDR is the Threat Detection Report SOP class (dicos.SOPClassTDR),
// written out so the package stays below the one it tests.
const sopClassTDR = "1.2.840.10008.5.1.4.1.1.501.3"

// Object is one potential threat object for a synthetic report.
type Object struct {
	ID       int
	Category string
	Prob     float64
	Polygon  []float64
	Image    string
	// nested writes the item the way real DICOS does (assessment and
	// representation sub-sequences); flat writes the tags in the item.
	Nested bool
	Flag   string // ATDAssessmentFlag; "" omits
	Desc   string // ThreatCategoryDescription; "" omits
}

// Spec describes a synthetic Threat Detection Report.
type Spec struct {
	UID      string
	Decision string // ALARM, CLEAR, UNKNOWN; "" omits the tag
	Time     string // DICOM DT; "" omits
	Alarms   int
	Objects  []Object
	Total    int // NumberOfTotalObjects; -1 omits
	TDRType  string
	Bag      string // PatientID (the object of inspection's id)
	ScanUID  string // StudyInstanceUID
	// cutAfterThreats ends the file right after the threat sequence, as a
	// writer that died there leaves it.
	CutAfterThreats bool
}

// Element is a DICOM element of tag tg and value v; a value the library
// refuses fails the test.
func Element(t testing.TB, tg tag.Tag, v any) *dicom.Element {
	t.Helper()
	e, err := dicom.NewElement(tg, v)
	if err != nil {
		t.Fatalf("NewElement %v: %v", tg, err)
	}
	return e
}

// Write encodes a dataset of es with the library's writer.
func Write(t testing.TB, es []*dicom.Element) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := dicom.Write(&b, dicom.Dataset{Elements: es}); err != nil {
		t.Fatalf("dicom.Write: %v", err)
	}
	return b.Bytes()
}

// TDRFile writes a DICOS Threat Detection Report with the library's writer.
func TDRFile(t testing.TB, s Spec) []byte {
	t.Helper()
	es := []*dicom.Element{
		Element(t, tag.MediaStorageSOPClassUID, []string{sopClassTDR}),
		Element(t, tag.MediaStorageSOPInstanceUID, []string{s.UID}),
		Element(t, tag.TransferSyntaxUID, []string{uid.ExplicitVRLittleEndian}),
		Element(t, tag.SOPClassUID, []string{sopClassTDR}),
		Element(t, tag.SOPInstanceUID, []string{s.UID}),
	}
	if s.Bag != "" {
		es = append(es, Element(t, tag.PatientID, []string{s.Bag}))
	}
	if s.ScanUID != "" {
		es = append(es, Element(t, tag.StudyInstanceUID, []string{s.ScanUID}))
	}
	var seq [][]*dicom.Element
	for _, o := range s.Objects {
		id := Element(t, tag.PotentialThreatObjectID, []int{o.ID})
		cat := Element(t, tag.ThreatCategory, []string{o.Category})
		prob := Element(t, tag.ATDAssessmentProbability, []float64{o.Prob})
		poly := Element(t, tag.BoundingPolygon, o.Polygon)
		ref := Element(t, tag.ReferencedInstanceSequence, [][]*dicom.Element{{
			Element(t, tag.ReferencedSOPClassUID, []string{"1.2.840.10008.5.1.4.1.1.501.2.1"}),
			Element(t, tag.ReferencedSOPInstanceUID, []string{o.Image}),
		}})
		assess := []*dicom.Element{cat}
		if o.Desc != "" {
			assess = append(assess, Element(t, tag.ThreatCategoryDescription, []string{o.Desc}))
		}
		if o.Flag != "" {
			assess = append(assess, Element(t, tag.ATDAssessmentFlag, []string{o.Flag}))
		}
		assess = append(assess, prob)
		if o.Nested {
			seq = append(seq, []*dicom.Element{id,
				Element(t, tag.ATDAssessmentSequence, [][]*dicom.Element{assess}),
				Element(t, tag.PTORepresentationSequence, [][]*dicom.Element{{ref, poly}}),
			})
		} else {
			seq = append(seq, append(append([]*dicom.Element{id}, assess...), poly, ref))
		}
	}
	// Ascending tag order, as exporters write: ThreatSequence (4010,1011),
	// AlarmDecisionTime (102B), AlarmDecision (1031), totals (1033), alarms (1034).
	es = append(es, Element(t, tag.ThreatSequence, seq))
	if s.CutAfterThreats {
		return Write(t, es)
	}
	if s.TDRType != "" {
		es = append(es, Element(t, tag.TDRType, []string{s.TDRType}))
	}
	if s.Time != "" {
		es = append(es, Element(t, tag.AlarmDecisionTime, []string{s.Time}))
	}
	if s.Decision != "" {
		es = append(es, Element(t, tag.AlarmDecision, []string{s.Decision}))
	}
	if s.Total >= 0 {
		es = append(es, Element(t, tag.NumberOfTotalObjects, []int{s.Total}))
	}
	es = append(es, Element(t, tag.NumberOfAlarmObjects, []int{s.Alarms}))
	return Write(t, es)
}

// ImageFile writes a tiny DICOS DX image header (no pixel data needed to
// be referenced by uid and hashed).
func ImageFile(t testing.TB, instance string) []byte {
	t.Helper()
	const dx = "1.2.840.10008.5.1.4.1.1.501.2.1"
	es := []*dicom.Element{
		Element(t, tag.MediaStorageSOPClassUID, []string{dx}),
		Element(t, tag.MediaStorageSOPInstanceUID, []string{instance}),
		Element(t, tag.TransferSyntaxUID, []string{uid.ExplicitVRLittleEndian}),
		Element(t, tag.SOPClassUID, []string{dx}),
		Element(t, tag.SOPInstanceUID, []string{instance}),
		Element(t, tag.Rows, []int{2}),
		Element(t, tag.Columns, []int{2}),
	}
	return Write(t, es)
}

// AlarmSpec is an alarm report with two objects on one image.
func AlarmSpec() Spec {
	return Spec{UID: "1.2.826.0.1.3680043.9.7.1.2", Decision: "ALARM", Time: "20261101090500.000000+0500", Alarms: 1, Total: 2,
		Objects: []Object{
			{ID: 1, Category: "EXPLOSIVE", Prob: 0.91, Polygon: []float64{10, 20, 110, 20, 110, 80, 10, 80}, Image: "1.2.826.0.1.3680043.9.7.1.1", Nested: true},
			{ID: 2, Category: "ANOMALY", Prob: 0.2, Polygon: []float64{200, 40, 240, 40, 240, 90}, Image: "1.2.826.0.1.3680043.9.7.1.1"},
		}}
}

// FlaggedSpec is the alarm report with per-object threat flags: the
// explosive is flagged THREAT (probability 0.91), the anomaly NO_THREAT.
func FlaggedSpec() Spec {
	s := AlarmSpec()
	s.Objects[0].Flag = "THREAT"
	s.Objects[1].Flag = "NO_THREAT"
	s.TDRType = "MACHINE"
	s.Bag = "BAG-20261101-0042"
	s.ScanUID = "1.2.826.0.1.3680043.9.7.1.100"
	return s
}

// HugeLength is a Part-10 file whose one dataset element declares a
// 4 GiB - 16 value in a file of a few dozen bytes.
func HugeLength(vr string) []byte {
	var b bytes.Buffer
	b.Write(make([]byte, 128))
	b.WriteString("DICM")
	ts := "1.2.840.10008.1.2.1\x00"                                  // explicit VR little endian
	binary.Write(&b, binary.LittleEndian, [2]uint16{0x0002, 0x0000}) // meta group length
	b.WriteString("UL")
	binary.Write(&b, binary.LittleEndian, uint16(4))
	binary.Write(&b, binary.LittleEndian, uint32(8+len(ts)))
	binary.Write(&b, binary.LittleEndian, [2]uint16{0x0002, 0x0010})
	b.WriteString("UI")
	binary.Write(&b, binary.LittleEndian, uint16(len(ts)))
	b.WriteString(ts)
	binary.Write(&b, binary.LittleEndian, [2]uint16{0x0008, 0x0016}) // SOPClassUID
	b.WriteString(vr)
	binary.Write(&b, binary.LittleEndian, uint16(0))
	binary.Write(&b, binary.LittleEndian, uint32(0xFFFFFFF0))
	b.WriteString("1.2.840")
	return b.Bytes()
}
