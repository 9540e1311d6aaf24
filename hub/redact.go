package hub

import (
	"encoding/json"
	"slices"

	"github.com/kordon/kordon/hub/personal"
)

// redactor withholds personal data from readings shown to anyone but the
// officers' logged-in screens: MQTT observers, the live page and API. Which
// fields are personal comes from each kind's payload schema (hub/personal),
// joined with what the sender listed; a reading of a kind without a schema
// has its whole payload withheld.
type redactor struct {
	fields *personal.Fields
}

func newRedactor(schemas map[string][]byte) *redactor {
	f, err := personal.FromSchemas(schemas)
	if err != nil {
		// The same schemas compiled for validation: a schema that is not
		// JSON never gets here. Withhold every payload rather than guess.
		f = personal.None()
	}
	return &redactor{fields: f}
}

// envelope returns the reading JSON with every personal field replaced and
// the raw evidence bytes removed; anything unparseable is withheld whole.
func (r *redactor) envelope(b []byte) []byte {
	var doc map[string]any
	if json.Unmarshal(b, &doc) != nil {
		return []byte(`{"error":"unparseable reading withheld"}`)
	}
	delete(doc, "raw")
	kind, _ := doc["kind"].(string)
	ptrs := r.fields.Of(kind)
	if _, obj := doc["payload"].(map[string]any); !r.fields.Known(kind) || (len(ptrs) > 0 && !obj) {
		if _, has := doc["payload"]; has {
			doc["payload"] = personal.Withheld // a shape the schema does not describe
		}
	}
	all := withSent(ptrs, doc)
	doc = personal.Redact(doc, all)
	if len(all) > 0 {
		doc["personal"] = all
	}
	out, _ := json.Marshal(doc)
	return out
}

// withSent is ptrs, and after them the pointers doc's own "personal"
// list names that ptrs does not.
func withSent(ptrs []string, doc map[string]any) []string {
	all := slices.Clone(ptrs)
	sent, _ := doc["personal"].([]any)
	for _, p := range sent {
		if s, ok := p.(string); ok && !slices.Contains(all, s) {
			all = append(all, s)
		}
	}
	return all
}

// declared returns a stored envelope, values untouched, whose "personal"
// list names every field its kind's schema marks personal now. The hub
// stores each reading with the schema's list of the day it arrived; a
// field the schema marks later (the passport's OCR candidates were one)
// is then withheld from the readings stored before as well, wherever the
// stored form goes with its list (the BLO's shares). Unparseable
// envelopes are returned as they are: their readers refuse them.
func (r *redactor) declared(b []byte) []byte {
	var doc map[string]any
	if json.Unmarshal(b, &doc) != nil {
		return b
	}
	kind, _ := doc["kind"].(string)
	all := withSent(r.fields.Of(kind), doc)
	if sent, _ := doc["personal"].([]any); len(sent) == len(all) {
		return b // it named them all already
	}
	doc["personal"] = all
	out, err := json.Marshal(doc)
	if err != nil {
		return b
	}
	return out
}
