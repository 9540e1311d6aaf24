package device

import (
	"fmt"
	"reflect"
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
		return o.Errorf(o.Node, "options", "must be a mapping")
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
