package hub

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/kordon/kordon/internal/contract"
)

// alertJSON is json.Marshal(a), byte for byte, made without reflection:
// the group committer makes one for every alert it stores, on the one
// goroutine every reading's commit waits for, and encoding/json's
// reflection cost several times what appending the few known fields does.
// A text that needs escaping, or a time json.Marshal would refuse, is
// left to encoding/json (TestAlertJSONMatchesMarshal keeps the two equal,
// and fails when contract.Alert gains a field this does not write).
func alertJSON(a *contract.Alert) ([]byte, error) {
	if !plainTime(a.Time) || !plainTime(a.Raised) {
		return json.Marshal(a)
	}
	b := make([]byte, 0, 384+80*len(a.Readings))
	b = append(b, `{"schema":`...)
	b = appendJSONString(b, a.Schema)
	b = append(b, `,"id":`...)
	b = appendJSONString(b, a.ID)
	b = append(b, `,"crossing":`...)
	b = appendJSONString(b, a.Crossing)
	b = append(b, `,"box":`...)
	b = appendJSONString(b, a.Box)
	b = append(b, `,"device":`...)
	b = appendJSONString(b, a.Device)
	b = append(b, `,"rule":`...)
	b = appendJSONString(b, a.Rule)
	b = append(b, `,"severity":`...)
	b = appendJSONString(b, a.Severity)
	b = append(b, `,"summary":`...)
	b = appendJSONString(b, a.Summary)
	b = append(b, `,"time":"`...)
	b = a.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","raised":"`...)
	b = a.Raised.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","readings":`...)
	if a.Readings == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, r := range a.Readings {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendRefJSON(b, &r)
		}
		b = append(b, ']')
	}
	b = append(b, `,"state":`...)
	b = appendJSONString(b, a.State)
	return append(b, '}'), nil
}

// refJSON is json.Marshal(r), byte for byte (as alertJSON).
func refJSON(r *contract.ReadingRef) []byte {
	return appendRefJSON(make([]byte, 0, 96), r)
}

func appendRefJSON(b []byte, r *contract.ReadingRef) []byte {
	b = append(b, `{"box":`...)
	b = appendJSONString(b, r.Box)
	b = append(b, `,"device":`...)
	b = appendJSONString(b, r.Device)
	if r.Incarnation != "" {
		b = append(b, `,"incarnation":`...)
		b = appendJSONString(b, r.Incarnation)
	}
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	return append(b, '}')
}

// plainTime says whether time.Time.MarshalJSON writes t as AppendFormat
// does with time.RFC3339Nano (it refuses a year of other than four digits,
// an offset of 24 hours or more).
func plainTime(t time.Time) bool {
	_, off := t.Zone()
	return t.Year() >= 0 && t.Year() <= 9999 && off > -24*3600 && off < 24*3600
}

// appendJSONString appends s as encoding/json writes it: as it is when
// it is printable ASCII that needs no escape (HTML's <, > and & are
// escaped too), else as encoding/json makes it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			js, _ := json.Marshal(s) // a string always encodes
			return append(b, js...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
