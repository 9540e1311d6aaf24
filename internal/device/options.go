package device

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/internal/config"
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
		return o.ErrorAt(o.Node, "options", "must be a mapping")
	}
	if t := reflect.TypeOf(v); t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return o.Node.Decode(v) // not a struct: no fields to check against
	}
	// The shared strict decoder words its messages for people ("20 is not
	// a duration (write 20s)", "did you mean ...?"); drivers return one
	// error, so the first is kept.
	if es := config.DecodeNode(o.File, o.Node, v); len(es) > 0 {
		e := es[0]
		field := e.Field
		if field == "" {
			field = "options"
		}
		return &ConfigError{File: o.File, Line: e.Line, Field: field, Msg: strings.Replace(e.Msg, "unknown field", "unknown option", 1)}
	}
	return nil
}

// DecodeAt decodes a nested mapping n as strictly as Decode does the top
// level (which leaves nested keys unchecked), and prefixes the field in any
// error with where the mapping sits ("profiles.x.object").
func (o Options) DecodeAt(n *yaml.Node, at string, v any) error {
	if n == nil || n.Kind == 0 {
		return nil
	}
	err := Options{File: o.File, Node: n}.Decode(v)
	var ce *ConfigError
	if errors.As(err, &ce) {
		if ce.Field == "options" {
			ce.Field = at
		} else {
			ce.Field = at + "." + ce.Field
		}
	}
	return err
}

// Errorf builds an error at the option named by field: a key of the
// options block, or a path into it ("profile.registers[2].scale"). The
// error carries the line of the deepest part of the path that is written
// (the option's own line), or the block's when none is.
func (o Options) Errorf(field, format string, args ...any) error {
	return o.ErrorAt(o.node(field), field, format, args...)
}

// ErrorAt builds an error at node n (nil: the options block), the field
// named by its path.
func (o Options) ErrorAt(n *yaml.Node, field, format string, args ...any) error {
	if n == nil || n.Line == 0 {
		n = o.Node
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	return &ConfigError{File: o.File, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// node finds the value node of a field path, stopping at the deepest part
// present.
func (o Options) node(path string) *yaml.Node {
	n := o.Node
	for path != "" && n != nil {
		var part string
		part, path, _ = strings.Cut(path, ".")
		key, idx, indexed := strings.Cut(part, "[")
		if key != "" {
			v := Child(n, key)
			if v == nil {
				return n
			}
			n = v
		}
		for indexed {
			var num string
			num, idx, _ = strings.Cut(idx, "]")
			i, err := strconv.Atoi(num)
			if err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
				return n
			}
			n = n.Content[i]
			idx, indexed = strings.CutPrefix(idx, "[")
		}
	}
	return n
}

// Child returns the value node of key in a mapping node (nil when absent).
func Child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
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
