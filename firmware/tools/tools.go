//go:build tools

// Package tools pins the gokrazy build tool (cmd/gok). The module proxy
// refuses @latest for it, so the version lives here, not in the main go.mod.
package tools

import _ "github.com/gokrazy/tools/cmd/gok"
