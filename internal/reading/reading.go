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

// Envelope versions. Boxes write v2; the hub still accepts v1 from boxes not
// yet upgraded (a v1 reading has no incarnation: it reads as Incarnation "").
const (
	SchemaV1 = "kordon.reading/1"
	SchemaV2 = "kordon.reading/2"
)

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
	Crossing string
	Box      string
	Device   string
	Driver   string
	// Incarnation names the life of the box's sequence state that assigned
	// Seq: it changes whenever the box cannot prove that state intact (new
	// provisioning, lost or corrupt state), so (Incarnation, Seq) never
	// repeats for a device even when Seq starts again (docs/delivery.md).
	Incarnation string
	Seq         uint64    // per device, only grows within an incarnation, survives restarts
	Origin      time.Time // when the first byte of the frame arrived
	Clock       Clock
	Quality     Quality
	Historical  bool // delivered late from the outbox backlog
	Payload     Payload
	Raw         []byte // optional evidence: the frame as received
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
	Schema      string          `json:"schema"`
	Crossing    string          `json:"crossing"`
	Box         string          `json:"box"`
	Device      string          `json:"device"`
	Kind        string          `json:"kind"`
	Driver      string          `json:"driver"`
	Incarnation string          `json:"incarnation,omitempty"`
	Seq         uint64          `json:"seq"`
	Origin      time.Time       `json:"origin"`
	Clock       Clock           `json:"clock"`
	Quality     Quality         `json:"quality"`
	Historical  bool            `json:"historical,omitempty"`
	Payload     json.RawMessage `json:"payload"`
	Raw         []byte          `json:"raw,omitempty"`
	Personal    []string        `json:"personal,omitempty"`
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
	// A reading without an incarnation is a v1 reading (a test's, or one
	// received from a box not yet upgraded) and keeps its v1 form.
	tag := SchemaV2
	if r.Incarnation == "" {
		tag = SchemaV1
	}
	w := wire{
		Schema: tag, Crossing: r.Crossing, Box: r.Box, Device: r.Device,
		Kind: r.Kind(), Driver: r.Driver, Incarnation: r.Incarnation, Seq: r.Seq, Origin: r.Origin.UTC(),
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
	switch {
	case w.Schema == SchemaV1 && w.Incarnation != "":
		return fmt.Errorf("reading: %s has no incarnation", SchemaV1)
	case w.Schema != SchemaV1 && w.Schema != SchemaV2:
		return fmt.Errorf("reading: schema %q, want %q or %q", w.Schema, SchemaV2, SchemaV1)
	}
	*r = Reading{
		Crossing: w.Crossing, Box: w.Box, Device: w.Device, Driver: w.Driver,
		Incarnation: w.Incarnation, Seq: w.Seq, Origin: w.Origin, Clock: w.Clock, Quality: w.Quality,
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
