// Package reading defines Kordon's one envelope for every device reading
// (schema v1, docs/schema.md) and the rules for its personal data.
package reading

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// SchemaV1 names the envelope version carried in every message.
const SchemaV1 = "kordon.reading/1"

// Status is a reading's quality.
type Status string

const (
	OK      Status = "ok"
	Suspect Status = "suspect" // decoded, but something is doubtful (e.g. an OCR candidate)
	Bad     Status = "bad"     // the device or frame cannot be trusted
)

// Quality says how far a reading can be trusted, and why not.
type Quality struct {
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// Clock is the box clock's sync state at the moment a reading was taken.
type Clock string

const (
	ClockSynced   Clock = "synced"
	ClockUnsynced Clock = "unsynced"
	ClockUnknown  Clock = "unknown"
)

// Payload is the kind-specific part of a reading. Each driver family declares
// its own struct; the kind is part of the type, not a free string beside it.
// Fields holding personal data carry the struct tag `personal:"true"`.
type Payload interface {
	Kind() string
}

// Reading is one normalised observation of one device.
//
// Drivers fill Payload, Origin, Quality and Raw; the edge pipeline stamps
// the identity fields, Seq and Clock.
type Reading struct {
	Crossing   string
	Box        string
	Device     string
	Driver     string
	Seq        uint64    // per device, only grows, survives restarts
	Origin     time.Time // when the first byte of the frame arrived
	Clock      Clock
	Quality    Quality
	Historical bool // delivered late from the outbox backlog
	Payload    Payload
	Raw        []byte // optional evidence: the frame as received
}

// Kind is the payload's kind, or "" without a payload.
func (r Reading) Kind() string {
	if r.Payload == nil {
		return ""
	}
	return r.Payload.Kind()
}

// wire is the JSON form of a Reading (docs/schema.md).
type wire struct {
	Schema     string          `json:"schema"`
	Crossing   string          `json:"crossing"`
	Box        string          `json:"box"`
	Device     string          `json:"device"`
	Kind       string          `json:"kind"`
	Driver     string          `json:"driver"`
	Seq        uint64          `json:"seq"`
	Origin     time.Time       `json:"origin"`
	Clock      Clock           `json:"clock"`
	Quality    Quality         `json:"quality"`
	Historical bool            `json:"historical,omitempty"`
	Payload    json.RawMessage `json:"payload"`
	Raw        []byte          `json:"raw,omitempty"`
	Personal   []string        `json:"personal,omitempty"`
}

// MarshalJSON writes the v1 envelope, listing personal fields as JSON pointers.
func (r Reading) MarshalJSON() ([]byte, error) {
	if r.Payload == nil {
		return nil, errors.New("reading: no payload")
	}
	p, err := marshal(r.Payload)
	if err != nil {
		return nil, fmt.Errorf("reading: payload: %w", err)
	}
	w := wire{
		Schema: SchemaV1, Crossing: r.Crossing, Box: r.Box, Device: r.Device,
		Kind: r.Kind(), Driver: r.Driver, Seq: r.Seq, Origin: r.Origin.UTC(),
		Clock: r.Clock, Quality: r.Quality, Historical: r.Historical,
		Payload: p, Raw: r.Raw,
	}
	if w.Clock == "" {
		w.Clock = ClockUnknown
	}
	w.Personal = PersonalPointers(r.Payload)
	if len(w.Personal) > 0 && len(r.Raw) > 0 && !slices.Contains(w.Personal, "/raw") {
		// The raw frame repeats whatever personal data the payload decoded.
		// Clip: the pointer list is cached and shared; never append into it.
		w.Personal = append(slices.Clip(w.Personal), "/raw")
	}
	return marshal(w)
}

// marshal is json.Marshal without HTML escaping: MRZ filler '<' stays
// readable instead of becoming \u003c.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// UnmarshalJSON reads a v1 envelope. The payload stays as JSON (a Received
// payload): consumers such as the hub work on any kind without knowing its Go type.
func (r *Reading) UnmarshalJSON(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if w.Schema != SchemaV1 {
		return fmt.Errorf("reading: schema %q, want %q", w.Schema, SchemaV1)
	}
	*r = Reading{
		Crossing: w.Crossing, Box: w.Box, Device: w.Device, Driver: w.Driver,
		Seq: w.Seq, Origin: w.Origin, Clock: w.Clock, Quality: w.Quality,
		Historical: w.Historical, Raw: w.Raw,
		Payload: Received{KindName: w.Kind, JSON: w.Payload, Personal: w.Personal},
	}
	return nil
}

// Received is a payload as it arrived on the wire: its kind, its JSON and the
// personal-data pointers the sender declared.
type Received struct {
	KindName string
	JSON     json.RawMessage
	Personal []string
}

func (p Received) Kind() string { return p.KindName }

// MarshalJSON keeps the payload exactly as received.
func (p Received) MarshalJSON() ([]byte, error) {
	if len(p.JSON) == 0 {
		return []byte("null"), nil
	}
	return p.JSON, nil
}
