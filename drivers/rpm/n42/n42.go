// Package n42 writes an alarmed portal occupancy as an ANSI N42.42-style
// XML document, the form reachback scientists read.
package n42

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"time"
)

// Export is an alarmed occupancy as the reachback scientist needs it: the
// background the monitor judged against, every scan sample, and the alarm.
type Export struct {
	Instrument string
	K          float64
	Start, End time.Time
	Occupancy  int
	Background map[string][]float64 // "gamma"/"neutron" -> per detector
	Samples    []ExportSample
	Alarm      Alarm
}

// Alarm is what the document says of the alarm.
type Alarm struct {
	Channel    string // gamma or neutron
	Detector   int    // 1-based
	Counts     int
	Background float64
	Threshold  float64
	Sigma      float64
	Source     string // computed or monitor
}

// ExportSample is one scan record.
type ExportSample struct {
	At      time.Time
	Channel string // gamma or neutron
	Counts  []int
}

// NS is the namespace of ANSI N42.42-2012.
const NS = "http://physics.nist.gov/N42/2011/N42"

// The XML below follows the element names and order of ANSI N42.42-2012
// (RadInstrumentData) for the parts a portal occupancy needs: instrument
// and detector information, a background and a foreground measurement per
// sample with gross counts per detector, and the alarm in analysis results.
// It is "N42.42-style": spectra and the optional elements are not written.
type n42Doc struct {
	XMLName     xml.Name         `xml:"RadInstrumentData"`
	NS          string           `xml:"xmlns,attr"`
	UUID        string           `xml:"n42DocUUID,attr"`
	Creator     string           `xml:"RadInstrumentDataCreatorName"`
	Instrument  n42Instrument    `xml:"RadInstrumentInformation"`
	Detectors   []n42Detector    `xml:"RadDetectorInformation"`
	Measurement []n42Measurement `xml:"RadMeasurement"`
	Analysis    n42Analysis      `xml:"AnalysisResults"`
}

type n42Instrument struct {
	ID    string `xml:"id,attr"`
	Model string `xml:"RadInstrumentModelName"`
	Class string `xml:"RadInstrumentClassCode"`
}

type n42Detector struct {
	ID       string `xml:"id,attr"`
	Category string `xml:"RadDetectorCategoryCode"`
}

type n42Measurement struct {
	ID       string     `xml:"id,attr"`
	Class    string     `xml:"MeasurementClassCode"`
	Start    string     `xml:"StartDateTime"`
	RealTime string     `xml:"RealTimeDuration"`
	Counts   []n42Gross `xml:"GrossCounts"`
	Occupied *bool      `xml:"OccupancyIndicator,omitempty"`
}

type n42Gross struct {
	Detector string `xml:"radDetectorInformationReference,attr"`
	LiveTime string `xml:"LiveTimeDuration"`
	Data     string `xml:"CountData"`
}

type n42Analysis struct {
	Alarm n42Alarm `xml:"RadAlarm"`
}

type n42Alarm struct {
	Time        string `xml:"RadAlarmDateTime"`
	Category    string `xml:"RadAlarmCategoryCode"`
	Description string `xml:"RadAlarmDescription"`
	Detector    string `xml:"radDetectorInformationReferences,attr,omitempty"`
}

// Write renders an alarmed occupancy as an N42.42-style XML document.
func Write(e Export) ([]byte, error) {
	doc := n42Doc{NS: NS, UUID: docUUID(e), Creator: "Kordon edge box",
		Instrument: n42Instrument{ID: "rpm", Model: e.Instrument, Class: "Portal Monitor"}}
	det := func(ch string, i int) string { return fmt.Sprintf("%s%d", ch, i+1) }
	for _, ch := range []string{"gamma", "neutron"} {
		for i := range e.Background[ch] {
			doc.Detectors = append(doc.Detectors, n42Detector{ID: det(ch, i), Category: title(ch)})
		}
	}
	bg := n42Measurement{ID: "background", Class: "Background", Start: e.Start.UTC().Format(time.RFC3339Nano), RealTime: "PT0S"}
	for _, ch := range []string{"gamma", "neutron"} {
		for i, m := range e.Background[ch] {
			bg.Counts = append(bg.Counts, n42Gross{Detector: det(ch, i), LiveTime: "PT0S", Data: fmt.Sprintf("%.1f", m)})
		}
	}
	doc.Measurement = append(doc.Measurement, bg)
	yes := true
	for j, s := range e.Samples {
		dur := "PT0S"
		if j+1 < len(e.Samples) {
			dur = isoDuration(e.Samples[j+1].At.Sub(s.At))
		}
		m := n42Measurement{ID: fmt.Sprintf("s%d", j+1), Class: "Foreground", Start: s.At.UTC().Format(time.RFC3339Nano), RealTime: dur, Occupied: &yes}
		for i, c := range s.Counts {
			m.Counts = append(m.Counts, n42Gross{Detector: det(s.Channel, i), LiveTime: dur, Data: fmt.Sprint(c)})
		}
		doc.Measurement = append(doc.Measurement, m)
	}
	a := e.Alarm
	doc.Analysis.Alarm = n42Alarm{
		Time:     e.Start.UTC().Format(time.RFC3339Nano),
		Category: title(a.Channel),
		Detector: det(a.Channel, a.Detector-1),
		Description: fmt.Sprintf("occupancy %d: %s detector %d counted %d against background %.1f (threshold %.1f at k=%g, %.1f sigma, %s)",
			e.Occupancy, a.Channel, a.Detector, a.Counts, a.Background, a.Threshold, e.K, a.Sigma, a.Source),
	}
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

func title(ch string) string {
	if ch == "neutron" {
		return "Neutron"
	}
	return "Gamma"
}

// isoDuration writes an xs:duration in seconds.
func isoDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return fmt.Sprintf("PT%gS", d.Seconds())
}

// docUUID derives the document UUID from its content, so the same
// occupancy exported twice is recognisably the same document.
func docUUID(e Export) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s|%d|%s", e.Instrument, e.Occupancy, e.Start.UTC().Format(time.RFC3339Nano))))
	h[6] = h[6]&0x0f | 0x50 // version 5-style (name based, SHA)
	h[8] = h[8]&0x3f | 0x80
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}
