// Package drivers holds one folder per device family. This package itself
// only embeds every family's payload schema (<kind>.schema.json), so the hub
// and tests can validate any kind without linking driver code. The list of
// families a box can run is in drivers/all.
package drivers

import (
	"embed"
	"io/fs"
	"path"
	"strings"
)

//go:embed */*.schema.json
var schemaFS embed.FS

// PayloadSchemas returns each kind's payload JSON Schema.
func PayloadSchemas() map[string][]byte {
	out := map[string][]byte{}
	files, _ := fs.Glob(schemaFS, "*/*.schema.json")
	for _, f := range files {
		b, err := schemaFS.ReadFile(f)
		if err != nil {
			continue
		}
		out[strings.TrimSuffix(path.Base(f), ".schema.json")] = b
	}
	return out
}
