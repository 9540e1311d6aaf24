package thermometer

import (
	"errors"

	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/internal/device"
)

// decodeAt decodes a nested mapping as strictly as device.Options.Decode
// does the top level (which leaves nested keys unchecked), and prefixes the
// field in any error with where the mapping sits ("profiles.x.object").
func decodeAt(o device.Options, n *yaml.Node, at string, v any) error {
	if n == nil || n.Kind == 0 {
		return nil
	}
	err := device.Options{File: o.File, Node: n}.Decode(v)
	var ce *device.ConfigError
	if errors.As(err, &ce) {
		if ce.Field == "options" {
			ce.Field = at
		} else {
			ce.Field = at + "." + ce.Field
		}
	}
	return err
}

// errAt is a config error at a node, field named by its path.
func errAt(o device.Options, n *yaml.Node, at, format string, args ...any) error {
	if n == nil || n.Line == 0 {
		n = o.Node
	}
	return o.Errorf(n, at, format, args...)
}

// child returns the value node of key in a mapping (nil when absent).
func child(n *yaml.Node, key string) *yaml.Node {
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
