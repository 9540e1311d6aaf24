// Package personal decides, at the hub, which fields of a reading hold
// personal data: from the kind's payload schema, where such fields are
// marked "x-personal": true, never from the list the sender attaches.
package personal

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Withheld replaces a personal value wherever the hub redacts.
const Withheld = "[personal]"

// Fields holds, per kind, the JSON pointers (from the envelope root, e.g.
// "/payload/number") of its personal fields. A "*" segment stands for every
// element of an array. It is built once at start-up and only read after.
type Fields struct {
	byKind map[string][]string
}

// FromSchemas derives the pointers of every kind from its payload schema.
// A kind with any personal field also has "/raw": the raw frame repeats
// what the payload decoded.
func FromSchemas(schemas map[string][]byte) (*Fields, error) {
	f := &Fields{byKind: map[string][]string{}}
	for kind, b := range schemas {
		ptrs, err := Pointers(b)
		if err != nil {
			return nil, fmt.Errorf("payload schema %s: %w", kind, err)
		}
		if len(ptrs) > 0 {
			ptrs = append(ptrs, "/raw")
		}
		f.byKind[kind] = ptrs
	}
	return f, nil
}

// Of returns a kind's pointers (shared: do not modify).
func (f *Fields) Of(kind string) []string { return f.byKind[kind] }

// Known says whether kind has a schema (a kind without one cannot be told
// apart from a kind with nothing personal by Of alone).
func (f *Fields) Known(kind string) bool {
	_, ok := f.byKind[kind]
	return ok
}

// None knows no kind: whoever asks withholds everything.
func None() *Fields { return &Fields{byKind: map[string][]string{}} }

// Pointers lists the pointers, under /payload, of the fields a payload
// schema marks personal. It follows properties, items, the branches of
// if/then/else, allOf/anyOf/oneOf and local $refs.
func Pointers(schema []byte) ([]string, error) {
	var root map[string]any
	if err := json.Unmarshal(schema, &root); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	walk(root, root, "/payload", set, 0)
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

func walk(root, s map[string]any, at string, out map[string]bool, depth int) {
	if s == nil || depth > 32 {
		return
	}
	if mark, _ := s["x-personal"].(bool); mark {
		out[at] = true
		return // the whole value is withheld; nothing below matters
	}
	if ref, ok := s["$ref"].(string); ok {
		walk(root, resolve(root, ref), at, out, depth+1)
	}
	if props, ok := s["properties"].(map[string]any); ok {
		for name, sub := range props {
			m, _ := sub.(map[string]any)
			walk(root, m, at+"/"+escape(name), out, depth+1)
		}
	}
	if items, ok := s["items"].(map[string]any); ok {
		walk(root, items, at+"/*", out, depth+1)
	}
	for _, k := range []string{"then", "else"} {
		m, _ := s[k].(map[string]any)
		walk(root, m, at, out, depth+1)
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		list, _ := s[k].([]any)
		for _, sub := range list {
			m, _ := sub.(map[string]any)
			walk(root, m, at, out, depth+1)
		}
	}
}

// resolve follows a local reference ("#/$defs/name"); others resolve to nil.
func resolve(root map[string]any, ref string) map[string]any {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	var cur any = root
	for _, part := range strings.Split(rest, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[unescape(part)]
	}
	m, _ := cur.(map[string]any)
	return m
}

func escape(s string) string   { return strings.NewReplacer("~", "~0", "/", "~1").Replace(s) }
func unescape(s string) string { return strings.NewReplacer("~1", "/", "~0", "~").Replace(s) }

// Redact returns doc with the values at ptrs withheld: "[personal]" in
// their place, and /raw removed. doc is not modified: maps on the way to a
// withheld value are copied, everything else is shared.
func Redact(doc map[string]any, ptrs []string) map[string]any {
	for _, p := range ptrs {
		parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
		for i := range parts {
			parts[i] = unescape(parts[i])
		}
		if v, changed := redactAt(doc, parts); changed {
			doc = v.(map[string]any)
		}
	}
	return doc
}

// redactAt withholds the value at path under v, copying what it changes.
func redactAt(v any, path []string) (any, bool) {
	if len(path) == 0 {
		return Withheld, true
	}
	switch x := v.(type) {
	case map[string]any:
		child, ok := x[path[0]]
		if !ok {
			return v, false
		}
		var nv any
		var changed bool
		if len(path) == 1 && path[0] == "raw" {
			nv, changed = nil, true
		} else {
			nv, changed = redactAt(child, path[1:])
		}
		if !changed {
			return v, false
		}
		cp := make(map[string]any, len(x))
		for k, val := range x {
			cp[k] = val
		}
		if nv == nil {
			delete(cp, path[0]) // evidence bytes: nothing useful to show in their place
		} else {
			cp[path[0]] = nv
		}
		return cp, true
	case []any:
		if path[0] != "*" {
			return v, false
		}
		var cp []any
		for i, el := range x {
			if nv, changed := redactAt(el, path[1:]); changed {
				if cp == nil {
					cp = slices.Clone(x)
				}
				cp[i] = nv
			}
		}
		if cp == nil {
			return v, false
		}
		return cp, true
	}
	return v, false
}
