package dash

import (
	"bytes"
	"fmt"
	"net/http"

	"github.com/kordon/kordon/drivers"
)

// familyInfo is what the dashboard needs of a device family: the commands
// its devices take (family.yaml), for the buttons of Boxes and devices.
type familyInfo struct {
	Family   string          `json:"family"`
	Kind     string          `json:"kind"`
	Commands []familyCommand `json:"commands,omitempty"`
}

type familyCommand struct {
	Name   string `json:"name"`
	Action string `json:"action"`
}

// families serves GET /dash/api/families.
func (d *Dash) families(w http.ResponseWriter, r *http.Request, _ *session) {
	fams, err := drivers.Families()
	if err != nil {
		http.Error(w, "family manifests: "+err.Error(), http.StatusInternalServerError)
		return
	}
	out := make([]familyInfo, 0, len(fams))
	for _, f := range fams {
		fi := familyInfo{Family: f.Name, Kind: f.Kind}
		for _, c := range f.Commands {
			fi.Commands = append(fi.Commands, familyCommand{Name: c.Name, Action: c.Action})
		}
		out = append(out, fi)
	}
	writeJSON(w, out)
}

// familiesScript serves /dash/families.js: every family's dashboard view
// (drivers/<family>/dash.js). The page loads it before dash.js, which looks
// views up by kind in window.KordonDashViews; a family without one is shown
// generically (its fields by their words).
func familiesScript(w http.ResponseWriter, r *http.Request) {
	fams, err := drivers.Families()
	if err != nil {
		http.Error(w, "family manifests: "+err.Error(), http.StatusInternalServerError)
		return
	}
	var b bytes.Buffer
	b.WriteString("\"use strict\";\nwindow.KordonDashViews = window.KordonDashViews || {};\n")
	for _, f := range fams {
		if f.Dash != nil {
			fmt.Fprintf(&b, "\n// drivers/%s (kind %s)\n", f.Name, f.Kind)
			b.Write(f.Dash)
			b.WriteByte('\n')
		}
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Write(b.Bytes())
}
