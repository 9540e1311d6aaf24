package booth

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/kordon/kordon/drivers"
)

// familiesScript is /booth/families.js: every family's booth view
// (drivers/<family>/booth.js), or for a family without one the fields its
// family.yaml names for the generic view. The page loads it before
// booth.js, which looks views up by kind in window.KordonBoothViews.
func familiesScript() ([]byte, error) {
	fams, err := drivers.Families()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("\"use strict\";\nwindow.KordonBoothViews = window.KordonBoothViews || {};\n")
	for _, f := range fams {
		fmt.Fprintf(&b, "\n// drivers/%s (kind %s)\n", f.Name, f.Kind)
		if f.Booth.Script {
			b.Write(f.Script)
			b.WriteByte('\n')
			continue
		}
		kind, _ := json.Marshal(f.Kind)
		fields, _ := json.Marshal(f.Booth.Fields)
		fmt.Fprintf(&b, "window.KordonBoothViews[%s] = {fields: %s};\n", kind, fields)
	}
	return b.Bytes(), nil
}
