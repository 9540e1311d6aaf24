// Package personal decides, at the hub, which fields of a reading hold
// personal data: from the kind's payload schema, where such fields are
// marked "x-personal": true, never from the list the sender attaches.
package personal

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kordon/kordon/internal/schema"
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
// schema marks personal (schema.PersonalPointers: the drivers' tests
// hold every field a driver tags personal to the same list).
func Pointers(doc []byte) ([]string, error) { return schema.PersonalPointers(doc) }

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
