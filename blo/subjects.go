package blo

import (
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/kordon/kordon/hub/watchlist"
	"github.com/kordon/kordon/internal/contract"
)

// Subject is something an alert is about that analysts link on across
// crossings: a pseudonymous document key, a container number, a substance,
// a plate. Document numbers never leave the crossing: the key is a keyed
// hash with the key the crossings share with the centre.
type Subject struct {
	Type  string `json:"type"`  // document-key | container | substance | plate
	Value string `json:"value"` // the key, the ISO 6346 number, the substance name, the plate
}

// UpAlert is an alert as it goes to the centre.
type UpAlert struct {
	contract.Alert
	Subjects []Subject `json:"subjects,omitempty"`
}

// subjectsOf extracts the subjects of the readings behind an alert. key
// may be nil (no document keys then).
func subjectsOf(key []byte, readings [][]byte) []Subject {
	var out []Subject
	seen := map[Subject]bool{}
	add := func(s Subject) {
		if s.Value != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, body := range readings {
		var r struct {
			Kind     string   `json:"kind"`
			Personal []string `json:"personal"`
			Payload  struct {
				Number     string   `json:"number"`
				Issuer     string   `json:"issuer"`
				Type       string   `json:"type"`
				Code       string   `json:"code"`
				Substances []string `json:"substances"`
				Container  *struct {
					Owner, Category, Serial string
					Check                   int
				} `json:"container"`
			} `json:"payload"`
		}
		if json.Unmarshal(body, &r) != nil {
			continue
		}
		p := r.Payload
		if key != nil && p.Number != "" {
			d := watchlist.Hash(key, p.Number, p.Issuer)
			add(Subject{Type: "document-key", Value: hex.EncodeToString(d[:16])})
		}
		if p.Container != nil {
			add(Subject{Type: "container", Value: strings.ToUpper(p.Container.Owner + p.Container.Category + p.Container.Serial + string(rune('0'+p.Container.Check%10)))})
		}
		personalCode := false
		for _, ptr := range r.Personal {
			personalCode = personalCode || ptr == "/payload/code"
		}
		if p.Type == "plate" && p.Code != "" && !personalCode {
			add(Subject{Type: "plate", Value: strings.ToUpper(p.Code)})
		}
		for _, s := range p.Substances {
			add(Subject{Type: "substance", Value: strings.ToLower(strings.TrimSpace(s))})
		}
	}
	return out
}
