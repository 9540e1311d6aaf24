package blo

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/hub/watchlist"
	"github.com/kordon/kordon/internal/contract"
)

// Policy is what one crossing shares with one neighbour, as data agreed by
// the two BLOs (docs/blo-network.md has an example). Nothing crosses that
// the policy does not name: alerts match a rule under auto (shared as
// raised) or manual (shared when an officer presses Share); of an alert,
// only the fields under alert_fields; of the readings behind it, only the
// JSON pointers under reading_fields, and of those, a personal one only
// when personal_fields names it as well. A document number may cross as a
// keyed hash (document_key) so the neighbour can match its own watchlist.
type Policy struct {
	Name          string   `yaml:"policy"`    // name/version, recorded with every message
	Neighbour     string   `yaml:"neighbour"` // the site it applies to
	Auto          []Match  `yaml:"auto"`
	Manual        []Match  `yaml:"manual"`
	HandlingCodes []string `yaml:"handling_codes"`
	AlertFields   []string `yaml:"alert_fields"`
	ReadingFields []string `yaml:"reading_fields"`
	// PersonalFields are personal reading fields allowed to cross. Each
	// must also be under reading_fields: naming it here alone sends nothing.
	PersonalFields []string `yaml:"personal_fields"`
	DocumentKey    *DocKey  `yaml:"document_key"`

	key []byte
}

// Match selects alerts by rule id and/or the kind of the reading behind
// them ("*" or empty matches any).
type Match struct {
	Rule string `yaml:"rule"`
	Kind string `yaml:"kind"`
	line int
}

// DocKey is the key both BLOs hold for hashing document numbers.
type DocKey struct {
	KeyFile string `yaml:"key_file"` // hex, as `hubd watchlist key` writes it; relative to the policy file
}

// Alert fields a policy may name. The id and rule always cross: receipts
// and the neighbour's screen need them, and they hold no personal data.
var alertFields = []string{"summary", "severity", "box", "device", "time", "raised", "state"}

func (m *Match) UnmarshalYAML(n *yaml.Node) error {
	type plain Match
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*m = Match(p)
	m.line = n.Line
	return nil
}

func (m Match) matches(rule, kind string) bool {
	return (m.Rule == "" || m.Rule == "*" || m.Rule == rule) && (m.Kind == "" || m.Kind == "*" || m.Kind == kind)
}

// LoadPolicy reads a policy strictly; errors name file:line: field.
func LoadPolicy(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParsePolicy(path, b)
}

// ParsePolicy parses a policy's text; name is used in errors and to
// resolve the key file.
func ParsePolicy(name string, src []byte) (*Policy, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	var p Policy
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%s: %v", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	lineOf := func(field string) int { return keyLine(&root, field) }
	fail := func(line int, field, msg string, a ...any) error {
		return fmt.Errorf("%s:%d: %s: %s", name, line, field, fmt.Sprintf(msg, a...))
	}
	if p.Name == "" {
		return nil, fail(1, "policy", "a name (and version) is required")
	}
	if err := ValidSite(p.Neighbour); err != nil {
		return nil, fail(lineOf("neighbour"), "neighbour", "%v", err)
	}
	for _, list := range []struct {
		field string
		m     []Match
	}{{"auto", p.Auto}, {"manual", p.Manual}} {
		for _, m := range list.m {
			if m.Rule == "" && m.Kind == "" {
				return nil, fail(m.line, list.field, "an entry needs a rule or a kind")
			}
		}
	}
	for _, f := range p.AlertFields {
		if !slices.Contains(alertFields, f) {
			return nil, fail(lineOf("alert_fields"), "alert_fields", "%q is not an alert field (%s)", f, strings.Join(alertFields, ", "))
		}
	}
	for _, list := range []struct {
		field string
		ptrs  []string
	}{{"reading_fields", p.ReadingFields}, {"personal_fields", p.PersonalFields}} {
		for _, ptr := range list.ptrs {
			if !strings.HasPrefix(ptr, "/") || strings.HasSuffix(ptr, "/") || strings.Contains(ptr, "//") {
				return nil, fail(lineOf(list.field), list.field, "%q is not a JSON pointer such as /payload/substance", ptr)
			}
		}
	}
	for _, ptr := range p.PersonalFields {
		if !slices.Contains(p.ReadingFields, ptr) {
			return nil, fail(lineOf("personal_fields"), "personal_fields", "%q is not under reading_fields", ptr)
		}
	}
	for _, h := range p.HandlingCodes {
		if h == "" || len(h) > 16 {
			return nil, fail(lineOf("handling_codes"), "handling_codes", "%q: a code is 1 to 16 characters", h)
		}
	}
	if p.DocumentKey != nil {
		kf := p.DocumentKey.KeyFile
		if kf == "" {
			return nil, fail(lineOf("document_key"), "document_key.key_file", "required")
		}
		if !filepath.IsAbs(kf) {
			kf = filepath.Join(filepath.Dir(name), kf)
		}
		key, err := watchlist.LoadKey(kf)
		if err != nil {
			return nil, fail(lineOf("document_key"), "document_key.key_file", "%v", err)
		}
		p.key = key
	}
	return &p, nil
}

// keyLine finds the line of a top-level key (1 when absent).
func keyLine(root *yaml.Node, key string) int {
	if len(root.Content) == 0 {
		return 1
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i].Line
		}
	}
	return 1
}

// Decision is what the policy says of one alert.
type Decision int

const (
	NotShared Decision = iota
	ShareOnRequest
	ShareAuto
)

// Decide says whether an alert of rule, raised on a reading of kind, is
// shared automatically, only on an officer's request, or not at all.
func (p *Policy) Decide(rule, kind string) Decision {
	for _, m := range p.Auto {
		if m.matches(rule, kind) {
			return ShareAuto
		}
	}
	for _, m := range p.Manual {
		if m.matches(rule, kind) {
			return ShareOnRequest
		}
	}
	return NotShared
}

// Share is one alert as it crosses to a neighbour: only what the policy
// names. Its ID is unique across every crossing and share.
type Share struct {
	Schema    string         `json:"schema"`
	ID        string         `json:"id"`
	From      string         `json:"from"`
	To        string         `json:"to"`
	Policy    string         `json:"policy"`
	AlertID   string         `json:"alert_id"` // crossing-qualified
	Rule      string         `json:"rule"`
	Kind      string         `json:"kind,omitempty"`
	Alert     map[string]any `json:"alert,omitempty"`  // the alert fields the policy names
	Fields    map[string]any `json:"fields,omitempty"` // reading fields by JSON pointer
	DocKeys   []string       `json:"document_keys,omitempty"`
	KeyID     string         `json:"key_id,omitempty"`
	SharedBy  string         `json:"shared_by"` // "policy" or the officer's user name
	Note      string         `json:"note,omitempty"`
	Handling  string         `json:"handling,omitempty"`
	SharedAt  string         `json:"shared_at"`
	Automatic bool           `json:"automatic"`
}

// ShareV1 tags a Share.
const ShareV1 = "kordon.share/1"

// Build makes the Share of an alert from the readings behind it (full
// envelopes, personal fields included: this is where they are withheld).
func (p *Policy) Build(from string, a contract.Alert, readings [][]byte) (Share, error) {
	s := Share{Schema: ShareV1, From: from, To: p.Neighbour, Policy: p.Name,
		AlertID: GlobalID(from, a.ID), Rule: a.Rule}
	al, _ := json.Marshal(a)
	var am map[string]any
	json.Unmarshal(al, &am)
	for _, f := range p.AlertFields {
		if v, ok := am[f]; ok {
			if s.Alert == nil {
				s.Alert = map[string]any{}
			}
			s.Alert[f] = v
		}
	}
	for _, body := range readings {
		var doc map[string]any
		if err := json.Unmarshal(body, &doc); err != nil {
			return s, errors.New("a reading behind the alert does not parse")
		}
		if k, _ := doc["kind"].(string); k != "" {
			s.Kind = k
		}
		personal := map[string]bool{}
		if ptrs, ok := doc["personal"].([]any); ok {
			for _, x := range ptrs {
				if ps, ok := x.(string); ok {
					personal[ps] = true
				}
			}
		}
		personal["/raw"] = true // raw frame bytes may hold anything
		for _, ptr := range p.ReadingFields {
			if isPersonal(ptr, personal) && !slices.Contains(p.PersonalFields, ptr) {
				continue
			}
			if v, ok := lookup(doc, ptr); ok {
				if s.Fields == nil {
					s.Fields = map[string]any{}
				}
				s.Fields[ptr] = v
			}
		}
		if p.key != nil {
			num, _ := lookup(doc, "/payload/number")
			iss, _ := lookup(doc, "/payload/issuer")
			ns, _ := num.(string)
			is, _ := iss.(string)
			if ns != "" {
				d := watchlist.Hash(p.key, ns, is)
				s.DocKeys = append(s.DocKeys, hex.EncodeToString(d[:]))
				s.KeyID = watchlist.KeyID(p.key)
			}
		}
	}
	return s, nil
}

// isPersonal says whether ptr is, is inside, or contains a personal field.
func isPersonal(ptr string, personal map[string]bool) bool {
	for p := range personal {
		if ptr == p || strings.HasPrefix(ptr, p+"/") || strings.HasPrefix(p, ptr+"/") {
			return true
		}
	}
	return false
}

func lookup(doc map[string]any, ptr string) (any, bool) {
	var cur any = doc
	for _, part := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// HandlingAllowed says whether an officer may choose code.
func (p *Policy) HandlingAllowed(code string) bool {
	return code == "" && len(p.HandlingCodes) == 0 || slices.Contains(p.HandlingCodes, code)
}
