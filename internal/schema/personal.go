package schema

import (
	"encoding/json"
	"sort"
	"strings"
)

// PersonalPointers lists the pointers, under /payload, of the fields a payload
// schema marks personal. It follows properties, items, the branches of
// if/then/else, allOf/anyOf/oneOf and local $refs.
func PersonalPointers(schema []byte) ([]string, error) {
	var root map[string]any
	if err := json.Unmarshal(schema, &root); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	walkPersonal(root, root, "/payload", set, 0)
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

func walkPersonal(root, s map[string]any, at string, out map[string]bool, depth int) {
	if s == nil || depth > 32 {
		return
	}
	if mark, _ := s["x-personal"].(bool); mark {
		out[at] = true
		return // the whole value is withheld; nothing below matters
	}
	if ref, ok := s["$ref"].(string); ok {
		m, _ := resolveLocal(root, ref).(map[string]any)
		walkPersonal(root, m, at, out, depth+1)
	}
	if props, ok := s["properties"].(map[string]any); ok {
		for name, sub := range props {
			m, _ := sub.(map[string]any)
			walkPersonal(root, m, at+"/"+escape(name), out, depth+1)
		}
	}
	if items, ok := s["items"].(map[string]any); ok {
		walkPersonal(root, items, at+"/*", out, depth+1)
	}
	for _, k := range []string{"then", "else"} {
		m, _ := s[k].(map[string]any)
		walkPersonal(root, m, at, out, depth+1)
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		list, _ := s[k].([]any)
		for _, sub := range list {
			m, _ := sub.(map[string]any)
			walkPersonal(root, m, at, out, depth+1)
		}
	}
}

func escape(s string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(s) }
