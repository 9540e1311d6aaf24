package reading

import (
	"encoding/json"
	"reflect"
	"strings"
	"sync"
)

// PersonalPointers lists, as JSON pointers from the envelope root
// ("/payload/number"), the payload fields tagged `personal:"true"`.
// Results are cached per type: this runs for every reading.
func PersonalPointers(p Payload) []string {
	if rp, ok := p.(Received); ok {
		return rp.Personal
	}
	t := reflect.TypeOf(p)
	if v, ok := pointerCache.Load(t); ok {
		return v.([]string)
	}
	var out []string
	collect(t, "/payload", &out, 0)
	pointerCache.Store(t, out)
	return out
}

var pointerCache sync.Map // reflect.Type -> []string

func collect(t reflect.Type, prefix string, out *[]string, depth int) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || depth > 8 {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		path := prefix + "/" + name
		if f.Tag.Get("personal") == "true" {
			*out = append(*out, path)
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			collect(ft, path, out, depth+1)
		}
	}
}

// Redacted returns the JSON of an envelope with every personal field replaced
// by "[personal]" (raw evidence bytes are removed). Logs, and any screen or export that must not show personal
// data, use this form. Pointers that do not resolve are ignored.
func Redacted(envelope []byte) []byte {
	var doc map[string]any
	if err := json.Unmarshal(envelope, &doc); err != nil {
		return []byte(`{"error":"unparseable envelope withheld"}`)
	}
	ptrs, _ := doc["personal"].([]any)
	for _, p := range ptrs {
		s, _ := p.(string)
		redactPointer(doc, s)
	}
	out, _ := json.Marshal(doc)
	return out
}

func redactPointer(doc map[string]any, ptr string) {
	parts := strings.Split(strings.TrimPrefix(ptr, "/"), "/")
	var cur any = doc
	for i, part := range parts {
		m, ok := cur.(map[string]any)
		if !ok {
			return
		}
		if i == len(parts)-1 {
			if _, ok := m[part]; ok {
				if ptr == "/raw" {
					delete(m, part) // evidence bytes: nothing useful to show in their place
				} else {
					m[part] = "[personal]"
				}
			}
			return
		}
		cur = m[part]
	}
}
