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
	return o.ErrorAt(n, at, format, args...)
}
