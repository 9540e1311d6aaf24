package hub

import (
	"encoding/json"
	"slices"
	"strings"
)

// redactor withholds personal data from readings shown to anyone but the
// officers' logged-in screens: MQTT observers, the live page and API. Which
// fields are personal comes from each kind's payload schema (its
// "x-personal" marks), joined with what the sender listed; a reading of a
// kind without a schema has its whole payload withheld.
type redactor struct {
	personal map[string][]string // kind -> JSON pointers from the envelope root
}

// withheld replaces a personal value.
const withheld = "[personal]"

func newRedactor(schemas map[string][]byte) *redactor {
	r := &redactor{personal: map[string][]string{}}
	for kind, b := range schemas {
		var s any
		if json.Unmarshal(b, &s) != nil {
			continue
		}
		var ptrs []string
		personalIn(s, "/payload", &ptrs, 0)
		slices.Sort(ptrs)
		r.personal[kind] = slices.Compact(ptrs)
	}
	return r
}

// personalIn collects the pointers of properties marked x-personal under
// the schema s describing the value at prefix. Conditional and combined
// subschemas (then/else/allOf/anyOf/oneOf) describe the same value; a mark
// inside an array's items makes the whole array personal.
func personalIn(s any, prefix string, out *[]string, depth int) {
	m, ok := s.(map[string]any)
	if !ok || depth > 16 {
		return
	}
	if p, _ := m["x-personal"].(bool); p {
		*out = append(*out, prefix)
		return
	}
	if props, ok := m["properties"].(map[string]any); ok {
		for name, sub := range props {
			personalIn(sub, prefix+"/"+escapePointer(name), out, depth+1)
		}
	}
	for _, k := range []string{"then", "else"} {
		personalIn(m[k], prefix, out, depth+1)
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		list, _ := m[k].([]any)
		for _, sub := range list {
			personalIn(sub, prefix, out, depth+1)
		}
	}
	if items, ok := m["items"]; ok {
		var inner []string
		personalIn(items, prefix, &inner, depth+1)
		if len(inner) > 0 {
			*out = append(*out, prefix)
		}
	}
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
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
	ptrs, known := r.personal[kind]
	if _, obj := doc["payload"].(map[string]any); !known || (len(ptrs) > 0 && !obj) {
		if _, has := doc["payload"]; has {
			doc["payload"] = withheld // a shape the schema does not describe
		}
	}
	sent, _ := doc["personal"].([]any)
	all := slices.Clone(ptrs)
	for _, p := range sent {
		if s, ok := p.(string); ok && !slices.Contains(all, s) {
			all = append(all, s)
		}
	}
	for _, p := range all {
		withhold(doc, p)
	}
	if len(all) > 0 {
		doc["personal"] = all
	}
	out, _ := json.Marshal(doc)
	return out
}

func withhold(doc map[string]any, ptr string) {
	parts := strings.Split(strings.TrimPrefix(ptr, "/"), "/")
	var cur any = doc
	for i, part := range parts {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return
		}
		if i == len(parts)-1 {
			if _, ok := m[part]; ok && part != "raw" {
				m[part] = withheld
			}
			return
		}
		cur = m[part]
	}
}
