// Package schema validates Kordon's MQTT messages against their JSON
// Schemas (docs/schema.md, docs/mqtt.md). The hub uses it on every incoming
// reading; tests use it on every message edged publishes.
package schema

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed *.v1.json *.v2.json
var files embed.FS

// Message schemas by their schema tag.
func names() map[string]string {
	return map[string]string{
		"kordon.reading/1":      "reading.v1.json",
		"kordon.reading/2":      "reading.v2.json",
		"kordon.state/1":        "state.v1.json",
		"kordon.availability/1": "availability.v1.json",
		"kordon.alert/1":        "alert.v1.json",
		"kordon.command/1":      "command.v1.json",
		"kordon.reply/1":        "reply.v1.json",
		// Evidence on request (docs/mqtt.md, "Evidence files").
		"kordon.evidence-request/1": "evidence-request.v1.json",
		"kordon.evidence-chunk/1":   "evidence-chunk.v1.json",
	}
}

// Validator checks messages; it is safe for concurrent use.
type Validator struct {
	messages map[string]*jsonschema.Schema
	// names are the payload schemas' string enum and const values, their
	// property names (a document's checks name its fields) and every
	// printable ASCII character: a payload's string value of these is one
	// boxed copy rather than an allocation of its own.
	names *nameSet
	// kinds is what the fast path needs of each kind, found by one look-up.
	kinds map[string]kindSchema
}

// name is a shared string, and the same boxed in an interface.
type name struct {
	s string
	v any
}

// nameSet is the shared strings: a payload's every string value is looked
// for here, so the one-character ones are found by their byte and the
// others' map is asked only when a name of that length begins with that
// byte (most values are not names, and the map's look-up hashed them all).
type nameSet struct {
	char  [128]name
	first [256]uint64 // bit n%64 for a name of n > 1 bytes beginning with the byte
	long  map[string]name
}

func (ns *nameSet) add(w string) {
	n := name{s: w, v: w}
	switch {
	case len(w) == 1 && w[0] < 128:
		ns.char[w[0]] = n
		return
	case len(w) > 1:
		ns.first[w[0]] |= 1 << (len(w) % 64)
	}
	ns.long[w] = n
}

// find gives the shared copy of raw, if there is one (a nil set has none).
func (ns *nameSet) find(raw []byte) (name, bool) {
	switch {
	case ns == nil:
		return name{}, false
	case len(raw) == 1 && raw[0] < 128:
		n := ns.char[raw[0]]
		return n, n.v != nil
	case len(raw) > 1 && ns.first[raw[0]]>>(len(raw)%64)&1 == 0:
		return name{}, false
	}
	n, ok := ns.long[string(raw)]
	return n, ok
}

// kindSchema is one kind's payload schema, its compiled check (nil when
// it could not be compiled) and how many properties it names, the size
// the fast path gives a payload's map so that it is not grown member by
// member.
type kindSchema struct {
	schema *jsonschema.Schema
	check  check
	plan   *plan // nil when the schema is not of a shape plans take (plan.go)
	size   int
}

// New compiles the message schemas and the given payload schemas (by kind).
func New(payloads map[string][]byte) (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	v := &Validator{messages: map[string]*jsonschema.Schema{},
		names: &nameSet{long: map[string]name{}}, kinds: map[string]kindSchema{}}
	words := map[string]string{}
	for tag, name := range names() {
		b, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		s, err := compile(c, "mem:///"+name, b)
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		v.messages[tag] = s
	}
	for kind, b := range payloads {
		s, err := compile(c, "mem:///payload/"+kind+".json", b)
		if err != nil {
			return nil, fmt.Errorf("payload schema %s: %w", kind, err)
		}
		ks := kindSchema{schema: s}
		if doc, err := Decode(b); err == nil {
			collectNames(doc, words)
			if root, ok := doc.(map[string]any); ok {
				if c, ok := compileCheck(root, root, 0); ok {
					ks.check = c
					ks.plan = compilePlan(root)
				}
				props, _ := root["properties"].(map[string]any)
				ks.size = len(props)
			}
		}
		v.kinds[kind] = ks
	}
	for c := byte(' '); c <= '~'; c++ {
		words[string(c)] = string(c) // check digits, sexes, document codes
	}
	for w := range words {
		v.names.add(w)
	}
	return v, nil
}

func compile(c *jsonschema.Compiler, url string, b []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

// collectNames adds a schema's string enum and const values and its
// property names to names.
func collectNames(s any, names map[string]string) {
	switch x := s.(type) {
	case map[string]any:
		for k, sub := range x {
			switch k {
			case "properties":
				if props, ok := sub.(map[string]any); ok {
					for pn, ps := range props {
						names[pn] = pn
						collectNames(ps, names)
					}
				}
				continue
			case "enum":
				if list, ok := sub.([]any); ok {
					for _, el := range list {
						if str, ok := el.(string); ok {
							names[str] = str
						}
					}
				}
			case "const":
				if str, ok := sub.(string); ok {
					names[str] = str
				}
			}
			collectNames(sub, names)
		}
	case []any:
		for _, el := range x {
			collectNames(el, names)
		}
	}
}

// Validate checks one message by its "schema" tag; a reading's payload is
// also checked against its kind's schema. Unknown kinds are an error: a hub
// must not store what it cannot describe.
func (v *Validator) Validate(msg []byte) error {
	inst, err := Decode(msg)
	if err != nil {
		return err
	}
	return v.ValidateDecoded(inst)
}

// Decode parses a message the way the validator reads it (numbers as
// json.Number), so a caller that validates with ValidateDecoded and then
// reads the fields parses the message once.
func Decode(msg []byte) (any, error) {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(msg))
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	return inst, nil
}

// ValidateDecoded is Validate on a message already parsed by Decode.
func (v *Validator) ValidateDecoded(inst any) error {
	obj, ok := inst.(map[string]any)
	if !ok {
		return fmt.Errorf("not a JSON object")
	}
	tag, _ := obj["schema"].(string)
	s, ok := v.messages[tag]
	if !ok {
		return fmt.Errorf("unknown schema tag %q", tag)
	}
	if err := s.Validate(inst); err != nil {
		return err
	}
	if tag != "kordon.reading/1" && tag != "kordon.reading/2" {
		return nil
	}
	kind, _ := obj["kind"].(string)
	ks, ok := v.kinds[kind]
	ps := ks.schema
	if !ok {
		return fmt.Errorf("no payload schema for kind %q", kind)
	}
	if err := ps.Validate(obj["payload"]); err != nil {
		return fmt.Errorf("payload (%s): %w", kind, err)
	}
	return nil
}

// Tag returns a message's schema tag, or "".
func Tag(msg []byte) string {
	var m struct {
		Schema string `json:"schema"`
	}
	_ = json.Unmarshal(msg, &m)
	return m.Schema
}
