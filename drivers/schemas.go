// Package drivers holds one folder per device family. This package itself
// is data only: it embeds every family's manifest and the files it names
// (family.yaml, <kind>.schema.json, rules.yaml, words/, booth.js, dash.js,
// README.md; internal/family), so the hub, the booth screen, the
// translations and tests read every family without linking driver code.
// The list of drivers a box can run is in drivers/all.
package drivers

import (
	"embed"
	"io/fs"
	"path"
	"strings"

	"github.com/kordon/kordon/internal/family"
)

//go:embed */family.yaml */*.schema.json */rules.yaml */words/*.json */booth.js */dash.js */README.md
var familyFS embed.FS

// Families reads every family folder's manifest and files. An error names
// the file (and line) at fault; the conformance test (drivers/conformance)
// keeps the tree free of them.
func Families() ([]family.Family, error) { return family.LoadAll(familyFS) }

// FS is the family folders as embedded (for the conformance test).
func FS() fs.FS { return familyFS }

// PayloadSchemas returns each kind's payload JSON Schema.
func PayloadSchemas() map[string][]byte {
	out := map[string][]byte{}
	files, _ := fs.Glob(familyFS, "*/*.schema.json")
	for _, f := range files {
		b, err := familyFS.ReadFile(f)
		if err != nil {
			continue
		}
		out[strings.TrimSuffix(path.Base(f), ".schema.json")] = b
	}
	return out
}
