package hub

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/kordon/kordon/hub/personal"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/schema"
)

// parser validates a reading once and reads from that one parse everything
// the hub needs: identity, what the rules see, personal fields, the form
// to store.
type parser struct {
	crossing   string
	validator  *schema.Validator
	personal   *personal.Fields
	maxPayload int
}

// parsed is a reading the hub accepts. What the hub makes of it on the
// box's goroutine (its kind, the rules' variables and verdict, its job) is
// held here too: one allocation per reading rather than one each.
type parsed struct {
	r       reading.Reading // its Payload is &recv
	recv    reading.Received
	ref     contract.ReadingRef
	msg     []byte              // the envelope as received (redacted reads it again)
	payload payload             // numbers as float64, as the rules expect
	ptrs    []string            // personal fields of its kind (from its schema)
	body    []byte              // the envelope to store
	vars    ruleInput           // what the rules see (ruleVars)
	match   matched             // what they say of it (readingJob)
	flags   [3 * 20]bool        // match's flags, for up to 20 rules
	job     job                 // readingJob's
	row     [readingColumns]any // job.row's values
}

// newParsed is a parsed reading of r's fields, its payload a
// reading.Received of kind (without JSON: payload holds it).
func newParsed(r reading.Reading, kind string) *parsed {
	p := &parsed{r: r, recv: reading.Received{KindName: kind}}
	p.r.Payload = &p.recv
	return p
}

// ruleVars are the variables the rules' expressions see for p, made once.
func (p *parsed) ruleVars() *ruleInput {
	p.vars = ruleInput{r: &p.r, kind: p.r.Kind(), payload: &p.payload}
	return &p.vars
}

// refusal is why a reading is refused, and which reading it was when that
// can be told (named is false otherwise).
type refusal struct {
	reason string
	ref    contract.ReadingRef
	named  bool
	err    error // for the log; may quote the payload only in its first line
}

// reading checks one message on a box's readings topic.
func (p *parser) reading(box, device string, msg []byte) (*parsed, *refusal) {
	if len(msg) > p.maxPayload {
		return nil, p.refusal("oversized payload", box, device, msg, nil, nil)
	}
	var r schema.Reading // copied into the parsed reading: it need not outlive this call
	if p.validator.ReadingMembersInto(msg, &r) {
		if out := p.fast(box, device, msg, &r); out != nil {
			return out, nil
		}
	}
	return p.full(box, device, msg)
}

// fast builds the parsed reading from the validator's fast path. It gives
// nil where the reading is to be refused: full then tells why, exactly as
// it always has.
func (p *parser) fast(box, device string, msg []byte, r *schema.Reading) *parsed {
	if r.Crossing != p.crossing || r.Box != box || r.Device != device {
		return nil
	}
	out := newParsed(reading.Reading{Crossing: p.crossing, Box: box, Device: device, Driver: r.Driver, Incarnation: r.Incarnation,
		Seq: r.Seq, Origin: r.Origin, Clock: reading.Clock(r.Clock), Quality: reading.Quality{Status: reading.Status(r.Status), Reason: r.Reason},
		Historical: r.Historical}, r.Kind)
	out.msg, out.payload, out.ptrs, out.body = msg, payload{members: r.Members, m: r.Payload}, p.personal.Of(r.Kind), msg
	out.ref = contract.ReadingRef{Box: box, Device: device, Incarnation: r.Incarnation, Seq: r.Seq}
	// The schema's list, not the sender's (see full); only the "personal"
	// member of the message changes.
	if !sameList(r.Personal, out.ptrs, r.HasRaw) {
		out.body = r.WithPersonal(msg, present(r.HasRaw, out.ptrs))
	}
	return out
}

// full is the generic parse: a decode of the whole message and the JSON
// Schema validator's walk over it. It decides every reading the fast path
// does not vouch for, and gives every refusal its reason and error.
func (p *parser) full(box, device string, msg []byte) (*parsed, *refusal) {
	inst, err := schema.Decode(msg)
	if err != nil {
		return nil, &refusal{reason: "schema", err: err}
	}
	doc, _ := inst.(map[string]any)
	if err := p.validator.ValidateDecoded(inst); err != nil {
		return nil, p.refusal("schema", box, device, msg, doc, err)
	}
	str := func(k string) string { s, _ := doc[k].(string); return s }
	if str("crossing") != p.crossing || str("box") != box || str("device") != device {
		return nil, p.refusal("envelope does not match topic", box, device, msg, doc, nil)
	}
	seq, _ := seqOf(doc)
	origin, err := time.Parse(time.RFC3339Nano, str("origin"))
	if err != nil {
		return nil, p.refusal("envelope", box, device, msg, doc, err)
	}
	q, _ := doc["quality"].(map[string]any)
	status, _ := q["status"].(string)
	reason, _ := q["reason"].(string)
	hist, _ := doc["historical"].(bool)
	kind := str("kind")
	out := newParsed(reading.Reading{Crossing: p.crossing, Box: box, Device: device, Driver: str("driver"), Incarnation: str("incarnation"),
		Seq: seq, Origin: origin, Clock: reading.Clock(str("clock")), Quality: reading.Quality{Status: reading.Status(status), Reason: reason},
		Historical: hist}, kind)
	out.msg, out.ptrs = msg, p.personal.Of(kind)
	out.ref = contract.ReadingRef{Box: box, Device: device, Incarnation: out.r.Incarnation, Seq: seq}
	// What is personal is the schema's word, not the sender's: the stored
	// envelope carries the schema's list, so every later reader of the
	// stored form (the API, the dashboard) withholds the same fields.
	out.body = msg
	if !samePointers(doc, out.ptrs) {
		fixed := make(map[string]any, len(doc))
		for k, v := range doc {
			fixed[k] = v
		}
		delete(fixed, "personal")
		if ptrs := presentPointers(doc, out.ptrs); len(ptrs) > 0 {
			fixed["personal"] = ptrs
		}
		b, err := json.Marshal(fixed)
		if err != nil {
			return nil, p.refusal("envelope", box, device, msg, doc, err)
		}
		out.body = b
	}
	pl, _ := doc["payload"].(map[string]any)
	out.payload.m, _ = schema.Floats(pl).(map[string]any) // doc is this parse's own
	return out, nil
}

// refusal names the refused reading when the topic and the message tell
// its incarnation and sequence number.
func (p *parser) refusal(reason, box, device string, msg []byte, doc map[string]any, err error) *refusal {
	rf := &refusal{reason: reason, err: err}
	if doc == nil {
		// Not parsed yet (oversized): look for the two fields alone.
		var m map[string]any
		if schemaErr := json.Unmarshal(msg, &m); schemaErr != nil {
			return rf
		}
		doc = m
	}
	seq, ok := seqOf(doc)
	if !ok || box == "" || device == "" {
		return rf
	}
	inc, _ := doc["incarnation"].(string)
	if !validIncarnation(inc) {
		return rf // a made-up life must not become one of the box's
	}
	rf.ref = contract.ReadingRef{Box: box, Device: device, Incarnation: inc, Seq: seq}
	rf.named = true
	return rf
}

// seqOf reads a positive integer seq, whether the parse kept it as a
// json.Number or a float64.
func seqOf(doc map[string]any) (uint64, bool) {
	switch v := doc["seq"].(type) {
	case json.Number:
		n, err := strconv.ParseUint(v.String(), 10, 64)
		return n, err == nil && n > 0
	case float64:
		if v >= 1 && v <= 1<<53 && v == float64(uint64(v)) {
			return uint64(v), true
		}
	}
	return 0, false
}

// samePointers reports whether the sender's list is exactly the schema's
// (ignoring /raw when there is no raw frame, as senders do).
func samePointers(doc map[string]any, ptrs []string) bool {
	sent, _ := doc["personal"].([]any)
	want := presentPointers(doc, ptrs)
	if len(sent) != len(want) {
		return false
	}
	for _, s := range sent {
		str, _ := s.(string)
		if !slices.Contains(want, str) {
			return false
		}
	}
	return true
}

func presentPointers(doc map[string]any, ptrs []string) []string {
	_, raw := doc["raw"]
	return present(raw, ptrs)
}

// sameList is samePointers on the fast path's typed list: whether sent
// is present(raw, ptrs), told without making that list.
func sameList(sent, ptrs []string, raw bool) bool {
	want := len(ptrs)
	if !raw {
		for _, p := range ptrs {
			if p == "/raw" {
				want--
			}
		}
	}
	if len(sent) != want {
		return false
	}
	for _, s := range sent {
		if !slices.Contains(ptrs, s) || s == "/raw" && !raw {
			return false
		}
	}
	return true
}

// present is ptrs without /raw when the envelope has no raw frame.
func present(raw bool, ptrs []string) []string {
	if raw {
		return ptrs
	}
	out := make([]string, 0, len(ptrs))
	for _, p := range ptrs {
		if p != "/raw" {
			out = append(out, p)
		}
	}
	return out
}

// redacted is the envelope with the kind's personal fields withheld. It
// parses the message again: only a watcher of the live page asks.
func (p *parsed) redacted() []byte {
	inst, err := schema.Decode(p.msg)
	doc, _ := inst.(map[string]any)
	if err != nil || doc == nil {
		return []byte(`{"error":"envelope withheld"}`)
	}
	b, err := json.Marshal(personal.Redact(doc, p.ptrs))
	if err != nil {
		return []byte(`{"error":"envelope withheld"}`)
	}
	return b
}

// validIncarnation is the envelope's pattern (^[a-z0-9]{8,32}$), or "" (v1).
func validIncarnation(s string) bool {
	if s == "" {
		return true
	}
	if len(s) < 8 || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
