// Package dicos reads DICOS files (NEMA IIC 1): the identity of any DICOS
// object and the content of a Threat Detection Report, through
// github.com/suyashkumar/dicom behind a guard on declared lengths.
package dicos

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/dcmtime"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/kordon/kordon/internal/dicomguard"
)

// DICOS SOP classes (NEMA IIC 1).
const (
	SOPClassTDR = "1.2.840.10008.5.1.4.1.1.501.3"
	sopDICOS    = "1.2.840.10008.5.1.4.1.1.501." // CT .1, DX .2.1/.2.2, TDR .3, ...
)

// Object is one potential threat object of a report.
type Object struct {
	ID          *int     `json:"id,omitempty"` // PotentialThreatObjectID
	Category    string   `json:"category,omitempty"`
	Description string   `json:"description,omitempty"`
	Probability *float64 `json:"probability,omitempty"` // ATDAssessmentProbability, 0..1
	// Flag is ATDAssessmentFlag as written: THREAT, NO_THREAT, UNKNOWN.
	Flag string `json:"flag,omitempty"`
	// Polygon is BoundingPolygon as the file gives it: x, y(, z) vertex
	// coordinates in the referenced image's frame, flattened.
	Polygon  []float64 `json:"polygon"`
	ImageUID string    `json:"image_uid,omitempty"` // ReferencedSOPInstanceUID
}

// TDR is what a Threat Detection Report file says.
type TDR struct {
	SOPClassUID    string
	SOPInstanceUID string
	Decision       string     // AlarmDecision as written: ALARM, CLEAR, UNKNOWN
	DecisionTime   *time.Time // AlarmDecisionTime
	TimeNoOffset   bool       // the time had no UTC offset (read as UTC)
	AlarmObjects   *int       // NumberOfAlarmObjects
	TotalObjects   *int       // NumberOfTotalObjects
	// TDRType is who decided: MACHINE (the detection algorithm), OPERATOR
	// (the screener), GROUND_TRUTH or OTHER.
	TDRType string
	// BagID is the object of inspection's id (DICOS keeps it in PatientID),
	// ScanUID and ScanID the scan's (StudyInstanceUID, StudyID).
	BagID   string
	ScanUID string
	ScanID  string
	Objects []Object
	// Damaged is set when the file could not be read to its end (cut
	// inside an element, corrupt): what was read before is kept.
	Damaged string
	// SalvagedThreats counts THREAT flags found in the bytes of a damaged
	// file beyond what could be parsed.
	SalvagedThreats int
	ImageUIDs       []string // every ReferencedSOPInstanceUID, in order, once each
	// Missing lists required (Type 1) content the file lacks, or object
	// counts that do not add up. The library ends a dataset cleanly at any
	// element boundary, so a file cut short there parses: this is how a
	// half-written report shows.
	Missing []string
}

// Header is the identity of any DICOS file (image or report).
type Header struct {
	SOPClassUID    string
	SOPInstanceUID string
}

// ErrNotDICOS is returned for a Part-10 file whose SOP class is not DICOS.
var ErrNotDICOS = errors.New("not a DICOS object")

// Parse reads a DICOS file with github.com/suyashkumar/dicom (pixel data
// skipped) and returns its identity and, for a Threat Detection Report, its
// content. size is the number of bytes to read.
func Parse(ra io.ReaderAt, size int64) (h Header, tdr *TDR, err error) {
	return ParseTo(ra, size, io.NewSectionReader(ra, 0, size), io.Discard)
}

// ParseTo is Parse reading the file from stream (its section from offset 0,
// left after the bytes the parser took) and writing every byte it reads to
// tee.
func ParseTo(ra io.ReaderAt, size int64, stream io.Reader, tee io.Writer) (h Header, tdr *TDR, err error) {
	// A corrupt file must cost one counted error, never the driver: the
	// library is not hardened against every malformed input.
	defer func() {
		if p := recover(); p != nil {
			h, tdr, err = Header{}, nil, fmt.Errorf("dicom: malformed file (parser panic: %v)", p)
		}
	}()
	cut, guard := dicomguard.Check(ra, size)
	if cut == 0 {
		return Header{}, nil, guard
	}
	ds, err := dicom.Parse(bufio.NewReader(io.TeeReader(io.LimitReader(stream, cut), tee)), cut, nil, dicom.SkipPixelData())
	if err == nil {
		err = guard // cut before an element the library could not take: the file is damaged there
	}
	if err != nil {
		// The library returns what it read before the error. A report
		// whose header says TDR is a damaged report, which must reach the
		// officer (it may be an alarm); anything else is an unreadable file.
		if firstString(ds.Elements, tag.MediaStorageSOPClassUID) != SOPClassTDR && firstString(ds.Elements, tag.SOPClassUID) != SOPClassTDR {
			return Header{}, nil, fmt.Errorf("dicom: %w", err)
		}
	}
	damaged := err
	h.SOPClassUID = firstString(ds.Elements, tag.SOPClassUID)
	if h.SOPClassUID == "" {
		h.SOPClassUID = firstString(ds.Elements, tag.MediaStorageSOPClassUID)
	}
	h.SOPInstanceUID = firstString(ds.Elements, tag.SOPInstanceUID)
	if h.SOPInstanceUID == "" {
		h.SOPInstanceUID = firstString(ds.Elements, tag.MediaStorageSOPInstanceUID)
	}
	if !strings.HasPrefix(h.SOPClassUID, sopDICOS) {
		return h, nil, fmt.Errorf("%w: SOP class %q", ErrNotDICOS, clip(h.SOPClassUID))
	}
	if h.SOPClassUID != SOPClassTDR {
		return h, nil, nil
	}
	t := &TDR{SOPClassUID: h.SOPClassUID, SOPInstanceUID: h.SOPInstanceUID}
	if damaged != nil {
		t.Damaged = clip(damaged.Error())
	}
	t.Decision = Clip(strings.ToUpper(strings.TrimSpace(firstString(ds.Elements, tag.AlarmDecision))), 16)
	t.TDRType = Clip(strings.ToUpper(strings.TrimSpace(firstString(ds.Elements, tag.TDRType))), 16)
	t.BagID = Clip(strings.TrimSpace(firstString(ds.Elements, tag.PatientID)), 64)
	t.ScanUID = Clip(strings.TrimSpace(firstString(ds.Elements, tag.StudyInstanceUID)), 64)
	t.ScanID = Clip(strings.TrimSpace(firstString(ds.Elements, tag.StudyID)), 64)
	if s := strings.TrimSpace(firstString(ds.Elements, tag.AlarmDecisionTime)); s != "" {
		dt, err := dcmtime.ParseDatetime(s)
		if err != nil {
			return h, nil, fmt.Errorf("AlarmDecisionTime %q: %w", clip(s), err)
		}
		at := dt.Time.UTC()
		t.DecisionTime, t.TimeNoOffset = &at, dt.NoOffset
	}
	t.AlarmObjects = firstInt(ds.Elements, tag.NumberOfAlarmObjects)
	t.TotalObjects = firstInt(ds.Elements, tag.NumberOfTotalObjects)
	seen := map[string]bool{}
	addImage := func(uid string) {
		if uid != "" && !seen[uid] {
			seen[uid] = true
			t.ImageUIDs = append(t.ImageUIDs, uid)
		}
	}
	t.Objects = []Object{}
	if seq := find(ds.Elements, tag.ThreatSequence, false); seq != nil {
		for _, item := range items(seq) {
			// Real DICOS nests category and probability in an
			// ATDAssessmentSequence and the polygon in a
			// PTORepresentationSequence; some exporters write them flat in
			// the item. Searching the item's subtree reads both.
			// Texts are bounded to the payload schema's lengths: a report
			// may carry a 10 kB description, the hub refuses what the
			// schema does not allow.
			o := Object{
				ID:          firstIntNested(item, tag.PotentialThreatObjectID),
				Category:    Clip(strings.TrimSpace(firstStringNested(item, tag.ThreatCategory)), 64),
				Description: Clip(strings.TrimSpace(firstStringNested(item, tag.ThreatCategoryDescription)), 256),
				Flag:        Clip(strings.ToUpper(strings.TrimSpace(firstStringNested(item, tag.ATDAssessmentFlag))), 16),
				Polygon:     []float64{},
				ImageUID:    Clip(strings.TrimSpace(firstStringNested(item, tag.ReferencedSOPInstanceUID)), 64),
			}
			if e := find(item, tag.ATDAssessmentProbability, true); e != nil {
				if fs, ok := e.Value.GetValue().([]float64); ok && len(fs) > 0 && finite(fs[0]) {
					p := fs[0]
					o.Probability = &p
				}
			}
			if e := find(item, tag.BoundingPolygon, true); e != nil {
				if fs, ok := e.Value.GetValue().([]float64); ok {
					for _, f := range fs {
						if !finite(f) {
							return h, nil, errors.New("BoundingPolygon holds a non-finite number")
						}
					}
					o.Polygon = append(o.Polygon, fs...)
				}
			}
			addImage(o.ImageUID)
			t.Objects = append(t.Objects, o)
		}
	}
	// A report may also reference its image outside the threat sequence.
	walk(ds.Elements, func(e *dicom.Element) {
		if e.Tag == tag.ReferencedSOPInstanceUID {
			if ss, ok := e.Value.GetValue().([]string); ok && len(ss) > 0 {
				addImage(Clip(strings.TrimSpace(ss[0]), 64))
			}
		}
	})
	if t.Damaged != "" {
		t.Missing = append(t.Missing, "the rest of the file (cut or corrupt)")
	}
	if t.Decision == "" {
		t.Missing = append(t.Missing, "AlarmDecision")
	}
	if t.DecisionTime == nil {
		t.Missing = append(t.Missing, "AlarmDecisionTime")
	}
	if t.AlarmObjects == nil {
		t.Missing = append(t.Missing, "NumberOfAlarmObjects")
	}
	switch {
	case t.TotalObjects == nil:
		t.Missing = append(t.Missing, "NumberOfTotalObjects")
	case *t.TotalObjects != len(t.Objects):
		t.Missing = append(t.Missing, fmt.Sprintf("threat objects (%d of %d)", len(t.Objects), *t.TotalObjects))
	}
	return h, t, nil
}

// Alarm says whether the report is an alarm. A written ALARM is; a
// written CLEAR in a complete report is not. Otherwise (no decision, or a
// damaged file) any sign of a threat makes it one: alarm objects counted,
// or an object flagged THREAT (parsed or salvaged). A damaged file can
// raise an alarm, never clear one.
func (t *TDR) Alarm() bool {
	switch {
	case t.Decision == "ALARM":
		return true
	case t.Decision == "CLEAR" && len(t.Missing) == 0:
		return false
	}
	return (t.AlarmObjects != nil && *t.AlarmObjects > 0) || t.Threats() > 0
}

// Threats counts the objects flagged THREAT, with those salvaged from the
// bytes of a damaged file.
func (t *TDR) Threats() int {
	n := t.SalvagedThreats
	for _, o := range t.Objects {
		if o.Flag == "THREAT" {
			n++
		}
	}
	return n
}

// SalvageThreatFlags counts ATDAssessmentFlag (4010,1015) elements with the
// value THREAT in the raw bytes of a file the library could not finish
// (it drops a sequence it cannot complete, and with it every flag inside).
// Hand-written because no parser reads a file past its damage; it looks
// for the tag, then an explicit-VR "CS" header or an implicit-VR length,
// in little endian as DICOS files are written. It can only add alarms.
func SalvageThreatFlags(b []byte) int {
	tagLE := []byte{0x10, 0x40, 0x15, 0x10}
	n := 0
	for i := 0; i+8 <= len(b); {
		j := bytes.Index(b[i:], tagLE)
		if j < 0 {
			break
		}
		k := i + j + 4
		var v []byte
		switch {
		case k+4 <= len(b) && b[k] == 'C' && b[k+1] == 'S':
			l := int(b[k+2]) | int(b[k+3])<<8
			v = b[k+4 : min(len(b), k+4+l)]
		case k+4 <= len(b):
			l := int(b[k]) | int(b[k+1])<<8 | int(b[k+2])<<16 | int(b[k+3])<<24
			if l >= 0 && l < 64 {
				v = b[k+4 : min(len(b), k+4+l)]
			}
		}
		if strings.TrimRight(string(v), " \x00") == "THREAT" {
			n++
		}
		i = k
	}
	return n
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func clip(s string) string { return Clip(s, 64) }

// Clip bounds a text the file supplies to n bytes, cut at a character
// boundary, marked with "...".
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// find returns the first element with tag t, at the top level or (nested)
// anywhere below.
func find(es []*dicom.Element, t tag.Tag, nested bool) *dicom.Element {
	var found *dicom.Element
	visit := func(e *dicom.Element) {
		if found == nil && e.Tag == t {
			found = e
		}
	}
	if !nested {
		for _, e := range es {
			visit(e)
		}
		return found
	}
	walk(es, visit)
	return found
}

// walk visits elements depth first, into sequences (bounded depth: a
// crafted file cannot recurse without end).
func walk(es []*dicom.Element, f func(*dicom.Element)) { walkDepth(es, f, 0) }

func walkDepth(es []*dicom.Element, f func(*dicom.Element), depth int) {
	if depth > 16 {
		return
	}
	for _, e := range es {
		if e == nil || e.Value == nil {
			continue
		}
		f(e)
		for _, it := range items(e) {
			walkDepth(it, f, depth+1)
		}
	}
}

// items returns a sequence element's items (nil for other elements).
func items(e *dicom.Element) [][]*dicom.Element {
	if e == nil || e.Value == nil || e.Value.ValueType() != dicom.Sequences {
		return nil
	}
	seq, ok := e.Value.GetValue().([]*dicom.SequenceItemValue)
	if !ok {
		return nil
	}
	var out [][]*dicom.Element
	for _, it := range seq {
		if it == nil {
			continue
		}
		if es, ok := it.GetValue().([]*dicom.Element); ok {
			out = append(out, es)
		}
	}
	return out
}

func firstString(es []*dicom.Element, t tag.Tag) string {
	return stringOf(find(es, t, false))
}

func firstStringNested(es []*dicom.Element, t tag.Tag) string {
	return stringOf(find(es, t, true))
}

func stringOf(e *dicom.Element) string {
	if e == nil || e.Value == nil {
		return ""
	}
	if ss, ok := e.Value.GetValue().([]string); ok && len(ss) > 0 {
		return strings.TrimRight(ss[0], "\x00 ")
	}
	return ""
}

func firstInt(es []*dicom.Element, t tag.Tag) *int { return intOf(find(es, t, false)) }

func firstIntNested(es []*dicom.Element, t tag.Tag) *int { return intOf(find(es, t, true)) }

func intOf(e *dicom.Element) *int {
	if e == nil || e.Value == nil {
		return nil
	}
	if is, ok := e.Value.GetValue().([]int); ok && len(is) > 0 {
		n := is[0]
		return &n
	}
	return nil
}
