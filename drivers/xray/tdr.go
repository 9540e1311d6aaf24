package xray

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/dcmtime"
	"github.com/suyashkumar/dicom/pkg/tag"
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
	Objects        []Object
	ImageUIDs      []string // every ReferencedSOPInstanceUID, in order, once each
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
func Parse(r io.Reader, size int64) (h Header, tdr *TDR, err error) {
	// A corrupt file must cost one counted error, never the driver: the
	// library is not hardened against every malformed input.
	defer func() {
		if p := recover(); p != nil {
			h, tdr, err = Header{}, nil, fmt.Errorf("dicom: malformed file (parser panic: %v)", p)
		}
	}()
	ds, err := dicom.Parse(r, size, nil, dicom.SkipPixelData())
	if err != nil {
		return Header{}, nil, fmt.Errorf("dicom: %w", err)
	}
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
	t.Decision = strings.ToUpper(strings.TrimSpace(firstString(ds.Elements, tag.AlarmDecision)))
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
			o := Object{
				ID:          firstIntNested(item, tag.PotentialThreatObjectID),
				Category:    strings.TrimSpace(firstStringNested(item, tag.ThreatCategory)),
				Description: strings.TrimSpace(firstStringNested(item, tag.ThreatCategoryDescription)),
				Polygon:     []float64{},
				ImageUID:    strings.TrimSpace(firstStringNested(item, tag.ReferencedSOPInstanceUID)),
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
				addImage(strings.TrimSpace(ss[0]))
			}
		}
	})
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

// Alarm says whether the report is an alarm: the decision says so, or (no
// decision written) it counts alarm objects.
func (t *TDR) Alarm() bool {
	switch t.Decision {
	case "ALARM":
		return true
	case "CLEAR":
		return false
	}
	return t.AlarmObjects != nil && *t.AlarmObjects > 0
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
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
