package device

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// Options are a device's driver-specific settings, kept as the YAML node
// they were written in so errors can name the line.
type Options struct {
	File string
	Node *yaml.Node
}

// Decode fills v (a pointer to a struct with yaml tags) strictly: an unknown
// key or a wrong type is an error naming file, line and field.
func (o Options) Decode(v any) error {
	if o.Node == nil || o.Node.Kind == 0 {
		return nil
	}
	if o.Node.Kind != yaml.MappingNode {
		return o.Errorf(o.Node, "options", "must be a mapping")
	}
	known := yamlFields(reflect.TypeOf(v))
	for i := 0; i+1 < len(o.Node.Content); i += 2 {
		k := o.Node.Content[i]
		if known != nil && !known[k.Value] {
			return o.Errorf(k, k.Value, "unknown option (known: %s)", strings.Join(sortedKeys(known), ", "))
		}
		if err := o.Node.Content[i+1].Decode(fieldPtr(v, k.Value)); err != nil {
			return o.Errorf(o.Node.Content[i+1], k.Value, "%s", cleanYAMLError(err))
		}
	}
	return nil
}

// Errorf builds an error that names file, line and field.
func (o Options) Errorf(n *yaml.Node, field, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &ConfigError{File: o.File, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// ConfigError is a configuration mistake a person must fix.
type ConfigError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
}

func cleanYAMLError(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: unmarshal errors:\n")
	s = strings.TrimSpace(s)
	if _, after, ok := strings.Cut(s, ": "); ok && strings.HasPrefix(s, "line ") {
		return after
	}
	return s
}

func yamlFields(t reflect.Type) map[string]bool {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	m := map[string]bool{}
	addFields(t, m)
	return m
}

func addFields(t reflect.Type, m map[string]bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, flags, _ := strings.Cut(tag, ",")
		if strings.Contains(flags, "inline") && f.Type.Kind() == reflect.Struct {
			addFields(f.Type, m)
			continue
		}
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = true
	}
}

// fieldPtr returns a pointer to the struct field of v whose yaml name is key.
func fieldPtr(v any, key string) any {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return v
	}
	if p := findField(rv, key); p.IsValid() {
		return p.Addr().Interface()
	}
	return new(any)
}

func findField(rv reflect.Value, key string) reflect.Value {
	t := rv.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, flags, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if strings.Contains(flags, "inline") && f.Type.Kind() == reflect.Struct {
			if p := findField(rv.Field(i), key); p.IsValid() {
				return p
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if name == key && f.IsExported() {
			return rv.Field(i)
		}
	}
	return reflect.Value{}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
