package schema

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Reading is a reading read by Validator.Reading: the envelope's fields,
// typed, and the payload decoded, numbers as float64 (as encoding/json
// gives them and as the hub's rules expect). Its strings without escapes
// are parts of one copy of the message: one allocation rather than one
// each, and any of them kept keeps that copy.
type Reading struct {
	Schema, Crossing, Box, Device, Kind, Driver, Incarnation string

	Seq        uint64
	Origin     time.Time
	Clock      string
	Status     string
	Reason     string
	Historical bool
	Payload    map[string]any
	// Members is, when r was read by ReadingMembersInto and its payload
	// each of whose names its kind's schema names was found valid as it
	// was read, the payload's members in the order sent (each name once,
	// numbers as float64), and Payload is nil; it is nil otherwise.
	Members []Member
	HasRaw  bool
	// Personal is the sender's list of personal fields; HasPersonal says
	// whether the envelope had one at all.
	Personal    []string
	HasPersonal bool

	// Where, in the message, the "personal" member is to be cut
	// (cutFrom == cutTo without one) and the envelope's closing brace.
	cutFrom, cutTo, closing int
}

// Member is one member of a payload.
type Member struct {
	Name  string
	Value any
}

// WithPersonal returns msg (the message r was read from) with its
// "personal" member replaced by ptrs, or left out when ptrs is empty; every
// other byte of the message is kept as sent.
func (r *Reading) WithPersonal(msg []byte, ptrs []string) []byte {
	out := make([]byte, 0, len(msg)+16+16*len(ptrs))
	out = append(out, msg[:r.cutFrom]...)
	out = append(out, msg[r.cutTo:r.closing]...)
	if len(ptrs) > 0 {
		out = append(out, `,"personal":[`...)
		for i, p := range ptrs {
			if i > 0 {
				out = append(out, ',')
			}
			out = strconv.AppendQuote(out, p) // the schemas' pointers: plain ASCII, quoted alike by JSON and Go
		}
		out = append(out, ']')
	}
	return append(out, msg[r.closing:]...)
}

// Reading is the fast path of Validate for a reading: it reads and checks
// msg in one pass, without the generic decode and the JSON Schema walk over
// the envelope, and checks the payload with its kind's compiled schema
// (compiled.go), or the JSON Schema validator where that is not sure.
//
// It is hand-written because the generic path (a decode into maps and
// json.Numbers, then the validator's walk of the envelope's regular
// expressions and formats) took about a quarter of the hub's CPU per
// reading, and no Go library validates a typed value against a JSON Schema. Its checks are
// reading.v1.json's and reading.v2.json's, and it vouches only for what it
// is sure of: ok is true only when Validate would accept msg, and then r
// holds what Decode would have read. Whenever it is not sure (the message
// is invalid, or written in a way this reader does not take, such as a
// member given twice) ok is false and the caller asks Validate, which
// gives the verdict and its error. Tests compare the two on many messages
// and by fuzzing.
//
// The payload's short numbers are read straight to float64 and its map is
// made the size of its kind's schema: a json.Number for each, and then
// Floats writing each into a map grown member by member, cost more than
// the rest of the payload's read.
func (v *Validator) Reading(msg []byte) (r *Reading, ok bool) {
	r = &Reading{}
	if !v.ReadingInto(msg, r) {
		return nil, false
	}
	return r, true
}

// ReadingInto is Reading into the caller's r (which a caller that only
// copies from it can keep off the heap); r is not to be used when ok is
// false.
func (v *Validator) ReadingInto(msg []byte, r *Reading) (ok bool) {
	return v.reading(msg, r, false, false)
}

// ReadingMembersInto is ReadingInto giving the payload as its Members
// where it can (see Reading.Members): a caller that only looks a few of
// them up is spared their map, which cost as much as the rest of the
// payload's read.
func (v *Validator) ReadingMembersInto(msg []byte, r *Reading) (ok bool) {
	return v.reading(msg, r, false, true)
}

// reading is ReadingInto; exact keeps every number as Decode gives it, for
// the JSON Schema validator, where the payload's compiled check was not
// sure of numbers read as float64. asMembers is ReadingMembersInto's.
func (v *Validator) reading(msg []byte, r *Reading, exact, asMembers bool) (ok bool) {
	s := scanner{b: msg, names: v.names, kinds: v.kinds, exact: exact, asMembers: asMembers}
	*r = Reading{}
	if !s.readEnvelope(r) {
		return false
	}
	switch r.Schema {
	case "kordon.reading/1":
		if s.seen&(1<<fIncarnation) != 0 {
			return false // v1 has no incarnation
		}
		if s.seen|1<<fIncarnation|optional != all {
			return false
		}
	case "kordon.reading/2":
		if s.seen|optional != all || !isIncarnation(r.Incarnation) {
			return false
		}
	default:
		return false
	}
	if !isID(r.Crossing) || !isID(r.Box) || !isID(r.Device) || !isKind(r.Kind) {
		return false
	}
	if n := utf8.RuneCountInString(r.Driver); n < 1 || n > 64 {
		return false
	}
	switch r.Clock {
	case "synced", "unsynced", "unknown":
	default:
		return false
	}
	switch r.Status {
	case "ok", "suspect", "bad":
	default:
		return false
	}
	if utf8.RuneCountInString(r.Reason) > 512 {
		return false
	}
	for _, p := range r.Personal {
		if !isPointer(p) {
			return false
		}
	}
	ks, known := s.ks, s.ksKnown // the payload's kind, looked up for its read
	if s.ksKind != r.Kind || !s.ksRead {
		ks, known = v.kinds[r.Kind] // the payload came first
	}
	if !known {
		return false
	}
	// The plan checked the payload as it was read, when the payload's
	// kind had one; otherwise the compiled check walks it now.
	if sure := s.planned && s.sure || !s.planned && ks.check != nil && ks.check(r.Payload); !sure {
		if s.floats {
			return v.reading(msg, r, true, asMembers) // rare: the validator reads numbers as Decode gives them
		}
		if r.Members != nil { // not seen valid: not given as members
			r.Payload, r.Members = membersMap(r.Members), nil
		}
		if ks.schema.Validate(r.Payload) != nil {
			return false
		}
	}
	if s.numbers {
		if r.Members != nil {
			for i := range r.Members {
				r.Members[i].Value = Floats(r.Members[i].Value)
			}
		} else {
			Floats(r.Payload)
		}
	}
	return true
}

// The envelope's members, as bits of scanner.seen.
const (
	fSchema = iota
	fCrossing
	fBox
	fDevice
	fKind
	fDriver
	fIncarnation
	fSeq
	fOrigin
	fClock
	fQuality
	fHistorical
	fPayload
	fRaw
	fPersonal
	nFields

	all      = 1<<nFields - 1
	optional = 1<<fHistorical | 1<<fRaw | 1<<fPersonal
)

// fieldOf names an envelope member, or gives -1.
func fieldOf(key []byte) int {
	switch string(key) {
	case "schema":
		return fSchema
	case "crossing":
		return fCrossing
	case "box":
		return fBox
	case "device":
		return fDevice
	case "kind":
		return fKind
	case "driver":
		return fDriver
	case "incarnation":
		return fIncarnation
	case "seq":
		return fSeq
	case "origin":
		return fOrigin
	case "clock":
		return fClock
	case "quality":
		return fQuality
	case "historical":
		return fHistorical
	case "payload":
		return fPayload
	case "raw":
		return fRaw
	case "personal":
		return fPersonal
	}
	return -1
}

// maxDepth bounds the payload's nesting this reader follows; deeper
// payloads go the generic way.
const maxDepth = 64

// scanner reads JSON (RFC 8259, strictly) from b. Strings are unquoted as
// encoding/json does (unquote), so every value is the one Decode gives.
type scanner struct {
	b       []byte
	i       int
	names   *nameSet              // string values to share boxed
	kinds   map[string]kindSchema // the payload's map is made the size of its kind's
	seen    int                   // envelope members read
	numbers bool                  // the payload holds json.Numbers still to be made float64
	// exact keeps every number a json.Number; otherwise a number of at
	// most 15 digits without an exponent is read as the float64 Floats
	// would make of it, which the compiled checks compare exactly (floats
	// says one was).
	exact, floats bool
	// planned says the payload was read with its kind's plan, and sure
	// that the plan found it valid.
	planned, sure bool
	// ks is the kind's schema the payload was read for (ksKind, when
	// ksRead), and whether there is one.
	ks              kindSchema
	ksKind          string
	ksKnown, ksRead bool
	// src is b as a string, made when a string that is not shared is
	// first read: every such string is then a part of it rather than a
	// copy of its own.
	src string
	// The elements of the arrays being read, innermost last: the first
	// len(elems) in elems, the rest in more. An array is then one
	// allocation of its exact size rather than append's doublings.
	// (elems is not a slice of itself, which would move the scanner to
	// the heap.)
	elems [16]any
	more  []any
	top   int
	// asMembers reads the payload into payload rather than a map, where
	// planObject can (ReadingMembersInto).
	asMembers bool
	payload   []Member
}

// push adds el to the elements being read.
func (s *scanner) push(el any) {
	if s.top < len(s.elems) {
		s.elems[s.top] = el
	} else {
		s.more = append(s.more[:s.top-len(s.elems)], el)
	}
	s.top++
}

// array gives the elements pushed since base as an array of their own,
// and drops them. Empty, it is []any{}, as encoding/json gives it.
func (s *scanner) array(base int) []any {
	a := make([]any, s.top-base)
	n := 0
	if base < len(s.elems) {
		n = copy(a, s.elems[base:min(s.top, len(s.elems))])
	}
	if s.top > len(s.elems) {
		copy(a[n:], s.more[max(base-len(s.elems), 0):s.top-len(s.elems)])
	}
	s.top = base
	return a
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next skips white space and takes c if it comes next.
func (s *scanner) next(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// readEnvelope reads the top-level object into r.
func (s *scanner) readEnvelope(r *Reading) bool {
	if !s.next('{') {
		return false
	}
	comma := -1 // where the comma before the current member is
	for {
		s.ws()
		start := s.i
		key, ok := s.key()
		if !ok || !s.next(':') {
			return false
		}
		f := fieldOf(key)
		if f < 0 || s.seen&(1<<f) != 0 {
			return false // refused, or a member given twice: the generic path decides
		}
		s.seen |= 1 << f
		s.ws()
		if !s.member(f, r) {
			return false
		}
		end := s.i
		if f == fPersonal {
			r.cutFrom, r.cutTo = comma, end
		}
		s.ws()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			if f == fPersonal && comma < 0 { // the first member: cut it with the comma after it
				r.cutFrom, r.cutTo = start, s.i+1
			}
			comma = s.i
			s.i++
		case '}':
			r.closing = s.i
			s.i++
			s.ws()
			if s.i != len(s.b) {
				return false
			}
			if s.seen&(1<<fPersonal) == 0 {
				r.cutFrom, r.cutTo = r.closing, r.closing
			} else if r.cutFrom < 0 {
				return false // "personal" alone: not a reading anyway
			}
			return true
		default:
			return false
		}
	}
}

// member reads the value of envelope member f.
func (s *scanner) member(f int, r *Reading) bool {
	var ok bool
	switch f {
	case fSchema:
		r.Schema, ok = s.str()
	case fCrossing:
		r.Crossing, ok = s.str()
	case fBox:
		r.Box, ok = s.str()
	case fDevice:
		r.Device, ok = s.str()
	case fKind:
		r.Kind, ok = s.str()
	case fDriver:
		r.Driver, ok = s.str()
	case fIncarnation:
		r.Incarnation, ok = s.str()
	case fClock:
		r.Clock, ok = s.str()
	case fSeq:
		r.Seq, ok = s.seq()
	case fOrigin:
		var o string
		if o, ok = s.str(); ok {
			r.Origin, ok = dateTime(o)
		}
	case fQuality:
		ok = s.quality(r)
	case fHistorical:
		r.Historical, ok = s.boolean()
	case fPayload:
		if s.peek() != '{' {
			return false
		}
		// The kind comes before the payload in what edged sends; a payload
		// without a compiled check (or of a kind not read yet) is read for
		// the JSON Schema validator.
		ks, known := s.kinds[r.Kind]
		s.ks, s.ksKnown, s.ksKind, s.ksRead = ks, known, r.Kind, true
		if ks.check == nil {
			s.exact = true
		}
		if ks.plan != nil && !s.exact {
			s.planned = true
			r.Payload, s.sure, ok = s.planObject(ks.plan, 0)
			r.Members = s.payload
			break
		}
		var p any
		p, ok = s.object(ks.size, 0)
		r.Payload, _ = p.(map[string]any)
	case fRaw:
		var n int
		n, ok = s.strLen()
		ok = ok && n <= 1<<20
		r.HasRaw = true
	case fPersonal:
		r.HasPersonal = true
		ok = s.strings(&r.Personal)
	}
	return ok
}

func (s *scanner) quality(r *Reading) bool {
	if !s.next('{') {
		return false
	}
	var seen [2]bool
	for {
		s.ws()
		key, ok := s.key()
		if !ok || !s.next(':') {
			return false
		}
		s.ws()
		switch string(key) {
		case "status":
			if seen[0] {
				return false
			}
			seen[0] = true
			r.Status, ok = s.str()
		case "reason":
			if seen[1] {
				return false
			}
			seen[1] = true
			r.Reason, ok = s.str()
		default:
			return false
		}
		if !ok {
			return false
		}
		if s.next('}') {
			return seen[0]
		}
		if !s.next(',') {
			return false
		}
	}
}

func (s *scanner) strings(out *[]string) bool {
	if !s.next('[') {
		return false
	}
	if s.next(']') {
		*out = []string{}
		return true
	}
	var buf [16]string // gathered here, then one allocation of the list's size
	list := buf[:0]
	for {
		s.ws()
		str, ok := s.str()
		if !ok {
			return false
		}
		list = append(list, str)
		if s.next(']') {
			*out = slices.Clone(list)
			return true
		}
		if !s.next(',') {
			return false
		}
	}
}

// strLen reads a string at s.i and gives its length in characters
// without keeping it (the raw frame: up to a MiB nobody reads here).
func (s *scanner) strLen() (int, bool) {
	start := s.i
	plain, end, ok := s.skipStr()
	if !ok {
		return 0, false
	}
	if plain {
		return end - start - 2, true
	}
	str, ok := unquote(s.b[start+1 : end-1])
	return utf8.RuneCountInString(str), ok
}

// skipStr moves past a string at s.i; plain says it holds only ASCII
// without escapes.
func (s *scanner) skipStr() (plain bool, end int, ok bool) {
	b := s.b
	if s.i >= len(b) || b[s.i] != '"' {
		return false, 0, false
	}
	plain = true
	j := s.i + 1
	for {
		// Eight bytes at a time up to the next that is a quote, a
		// backslash, a control character or beyond ASCII: a string's read
		// was the most of a reading's scan byte by byte.
		for j+8 <= len(b) {
			if m := special(binary.LittleEndian.Uint64(b[j:])); m != 0 {
				j += bits.TrailingZeros64(m) / 8
				break
			}
			j += 8
		}
		if j >= len(b) {
			return false, 0, false
		}
		switch c := b[j]; {
		case c == '"':
			s.i = j + 1
			return plain, s.i, true
		case c < 0x20:
			return false, 0, false
		case c == '\\':
			plain = false
			j += 2 // the escaped byte is never the end (unquote reads the escape)
		case c >= utf8.RuneSelf:
			plain = false
			j++
		default:
			j++ // the last bytes, fewer than eight
		}
	}
}

// special marks the bytes of x (little-endian) that are '"', '\\', below
// 0x20 or from 0x80 with their top bit. The lowest byte marked is the
// first such byte exactly: a subtraction's borrow, which may mark a byte
// above it falsely, starts only at a byte that is one.
func special(x uint64) uint64 {
	const ones, tops = 0x0101010101010101, 0x8080808080808080
	zero := func(v uint64) uint64 { return (v - ones) &^ v & tops }
	return zero(x^(ones*'"')) | zero(x^(ones*'\\')) | (x-ones*0x20)&^x&tops | x&tops
}

// str reads a string at s.i, a part of src when it is plain: only a
// value boxed in an interface gains from a shared copy (shared).
func (s *scanner) str() (string, bool) {
	start := s.i
	plain, end, ok := s.skipStr()
	if !ok {
		return "", false
	}
	if plain {
		return s.part(start+1, end-1), true
	}
	return unquote(s.b[start+1 : end-1])
}

// shared reads a string at s.i, and gives the shared copy of it boxed
// (an interface holding a string is an allocation of its own) when there
// is one.
func (s *scanner) shared() (string, any, bool) {
	start := s.i
	plain, end, ok := s.skipStr()
	if !ok {
		return "", nil, false
	}
	raw := s.b[start+1 : end-1]
	if plain {
		if n, ok := s.names.find(raw); ok {
			return n.s, n.v, true
		}
		return s.part(start+1, end-1), nil, true
	}
	str, ok := unquote(raw)
	return str, nil, ok
}

// part is b[from:to] as a string, a part of src.
func (s *scanner) part(from, to int) string {
	if s.src == "" {
		s.src = string(s.b)
	}
	return s.src[from:to]
}

// key reads a member name that is only compared: a plain one is not
// copied.
func (s *scanner) key() ([]byte, bool) {
	start := s.i
	plain, end, ok := s.skipStr()
	if !ok {
		return nil, false
	}
	if plain {
		return s.b[start+1 : end-1], true
	}
	str, ok := unquote(s.b[start+1 : end-1])
	return []byte(str), ok
}

// unquote reads a string's escapes and turns invalid UTF-8 into U+FFFD,
// as encoding/json does (decode.go, unquoteBytes: not exported; a fuzz
// test holds the two equal).
func unquote(s []byte) (string, bool) {
	var b strings.Builder
	b.Grow(len(s)) // one allocation, the string's own: escapes only shorten it (invalid UTF-8 may lengthen it)
	for r := 0; r < len(s); {
		switch c := s[r]; {
		case c == '\\':
			if r+1 >= len(s) {
				return "", false
			}
			switch s[r+1] {
			case '"', '\\', '/':
				b.WriteByte(s[r+1])
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				rr := getu4(s[r:])
				if rr < 0 {
					return "", false
				}
				r += 6
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, getu4(s[r:])); dec != unicode.ReplacementChar {
						r += 6
						b.WriteRune(dec)
						continue
					}
					rr = unicode.ReplacementChar
				}
				b.WriteRune(rr)
				continue
			default:
				return "", false
			}
			r += 2
		case c == '"', c < ' ':
			return "", false
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			b.WriteRune(rr)
		}
	}
	return b.String(), true
}

// getu4 reads \uXXXX at the start of s, or gives -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

func (s *scanner) boolean() (bool, bool) {
	switch {
	case s.lit("true"):
		return true, true
	case s.lit("false"):
		return false, true
	}
	return false, false
}

func (s *scanner) lit(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

// number reads a number's text (JSON's grammar, strictly).
func (s *scanner) number() ([]byte, bool) {
	b, i := s.b, s.i
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	s.i = i
	return b[start:i], true
}

// seq reads a sequence number: a plain positive integer that fits.
// Others the schema may take (1.0, 1e3) go the generic way.
func (s *scanner) seq() (uint64, bool) {
	lit, ok := s.number()
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(string(lit), 10, 64)
	return n, err == nil && n >= 1
}

// value reads any JSON value into what Decode gives: maps, []any,
// strings, bools, nil, and numbers as json.Number (s.numbers is set).
func (s *scanner) value(depth int) (any, bool) {
	if depth > maxDepth {
		return nil, false
	}
	s.ws()
	if s.i >= len(s.b) {
		return nil, false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(0, depth)
	case c == '[':
		s.i++
		if s.next(']') {
			return []any{}, true
		}
		base := s.top
		for {
			el, ok := s.value(depth + 1)
			if !ok {
				return nil, false
			}
			s.push(el)
			if s.next(']') {
				return s.array(base), true
			}
			if !s.next(',') {
				return nil, false
			}
		}
	case c == '"':
		str, boxed, ok := s.shared()
		if boxed != nil {
			return boxed, ok
		}
		return str, ok
	case c == 't' || c == 'f':
		b, ok := s.boolean()
		return b, ok
	case c == 'n':
		return nil, s.lit("null")
	default:
		lit, ok := s.number()
		if !ok {
			return nil, false
		}
		if !s.exact && simpleNumber(lit) {
			s.floats = true
			return simpleFloat(lit), true
		}
		s.numbers = true
		// The validator reads the number's text, exactly as the generic
		// path gives it; Floats makes it a float64 afterwards.
		return json.Number(lit), true
	}
}

// planObject reads an object at s.i (at depth, the payload's at 0),
// checking each member with plan p as it is read; sure is the verdict.
// The payload read for its members (s.asMembers) is gathered in a list
// made for its schema's every property and given in s.payload instead of
// m, when each of its names is the plan's and given once.
func (s *scanner) planObject(p *plan, depth int) (m map[string]any, sure, ok bool) {
	if depth > maxDepth || !s.next('{') {
		return nil, false, false
	}
	var st planState
	asMembers := depth == 0 && s.asMembers
	var ms []Member
	if asMembers {
		ms = make([]Member, 0, p.size)
	} else {
		m = make(map[string]any, p.size)
	}
	unique := true  // each name the plan's, and given once
	var seen uint64 // the plan's properties given
	if !s.next('}') {
		for {
			s.ws()
			pp, k, ok := s.planKey(p)
			if !ok || !s.next(':') {
				return nil, false, false
			}
			if pp == nil || pp.idx >= 64 || seen&(1<<pp.idx) != 0 {
				unique = false
			} else {
				seen |= 1 << pp.idx
			}
			var el any
			itemsSure := false
			read := p.itemsPlan(&st, pp)
			if read != nil && s.peek() == '[' {
				el, itemsSure, ok = s.planArray(read, depth+1)
			} else {
				read = nil
				el, ok = s.value(depth + 1)
			}
			if !ok {
				return nil, false, false
			}
			p.member(&st, pp, el, read, itemsSure)
			if asMembers {
				ms = append(ms, Member{Name: k, Value: el})
			} else {
				m[k] = el // a name given twice: the last one, as encoding/json does (p.member was not sure of the first)
			}
			if s.next('}') {
				break
			}
			if !s.next(',') {
				return nil, false, false
			}
		}
	}
	if asMembers && unique {
		s.payload = ms
		return nil, p.sure(&st, func(n string) bool { pp := p.prop(n); return pp != nil && seen&(1<<pp.idx) != 0 }), true
	}
	if asMembers {
		m = membersMap(ms)
	}
	return m, p.sure(&st, func(n string) bool { _, has := m[n]; return has }), true
}

// membersMap is the map of an object's members: a name given twice is
// the last one, as encoding/json gives it.
func membersMap(ms []Member) map[string]any {
	m := make(map[string]any, len(ms))
	for _, kv := range ms {
		m[kv.Name] = kv.Value
	}
	return m
}

// planArray reads an array at s.i (at depth) whose items are to be
// objects of plan p; sure says every item is one and p is sure of it.
func (s *scanner) planArray(p *plan, depth int) (a []any, sure, ok bool) {
	if depth > maxDepth || !s.next('[') {
		return nil, false, false
	}
	if s.next(']') {
		return []any{}, true, true
	}
	base := s.top
	sure = true
	for {
		var el any
		if s.peek() == '{' {
			var m map[string]any
			var itemSure bool
			m, itemSure, ok = s.planObject(p, depth+1)
			el, sure = m, sure && itemSure
		} else {
			el, ok = s.value(depth + 1)
			sure = false // not an object: the validator decides
		}
		if !ok {
			return nil, false, false
		}
		s.push(el)
		if s.next(']') {
			return s.array(base), sure, true
		}
		if !s.next(',') {
			return nil, false, false
		}
	}
}

// planKey reads a member name of the payload and finds it in the plan
// (nil when the plan does not name it).
func (s *scanner) planKey(p *plan) (*planProp, string, bool) {
	k, ok := s.str()
	return p.prop(k), k, ok
}

// object reads an object at s.i into a map made for size members.
func (s *scanner) object(size, depth int) (any, bool) {
	if !s.next('{') {
		return nil, false
	}
	m := make(map[string]any, size)
	if s.next('}') {
		return m, true
	}
	for {
		s.ws()
		k, ok := s.str()
		if !ok || !s.next(':') {
			return nil, false
		}
		el, ok := s.value(depth + 1)
		if !ok {
			return nil, false
		}
		m[k] = el // a name given twice: the last one, as encoding/json does
		if s.next('}') {
			return m, true
		}
		if !s.next(',') {
			return nil, false
		}
	}
}

// simpleFloat is strconv.ParseFloat of a simpleNumber, by the exact
// case of ParseFloat's own algorithm (atof64exact): at most 15 digits are
// an integer a float64 holds exactly, as is ten to the power of at most
// 15, and IEEE division rounds their quotient correctly. ParseFloat's
// general reading around that case cost more than the rest of a number's
// scan.
func simpleFloat(lit []byte) float64 {
	neg := lit[0] == '-'
	var m uint64
	frac, dot := 0, false
	for _, c := range lit {
		switch {
		case c == '.':
			dot = true
		case c >= '0' && c <= '9':
			m = m*10 + uint64(c-'0')
			if dot {
				frac++
			}
		}
	}
	f := float64(m)
	if frac > 0 {
		p := uint64(1)
		for range frac {
			p *= 10
		}
		f /= float64(p)
	}
	if neg {
		f = -f
	}
	return f
}

// Floats turns Decode's json.Numbers into float64, as encoding/json gives
// them and as the rules' expressions expect. It changes v's maps and
// slices in place: they must be the caller's own.
func Floats(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, _ := strconv.ParseFloat(string(x), 64)
		return f
	case map[string]any:
		for k, el := range x {
			switch el.(type) {
			case json.Number, map[string]any, []any:
				x[k] = Floats(el)
			}
		}
	case []any:
		for i, el := range x {
			x[i] = Floats(el)
		}
	}
	return v
}

// dateTime reads an RFC 3339 date-time in the strict shape
// yyyy-mm-ddThh:mm:ss[.frac](Z|±hh:mm), which the schema's date-time
// format takes whenever time.Parse does.
func dateTime(s string) (time.Time, bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18} {
		if !digit(s[i]) {
			return time.Time{}, false
		}
	}
	rest := s[19:]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && digit(rest[n]) {
			n++
		}
		if n == 1 {
			return time.Time{}, false
		}
		rest = rest[n:]
	}
	switch {
	case rest == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
		digit(rest[1]) && digit(rest[2]) && digit(rest[4]) && digit(rest[5]):
		if (rest[1]-'0')*10+rest[2]-'0' > 23 || (rest[4]-'0')*10+rest[5]-'0' > 59 {
			return time.Time{}, false
		}
	default:
		return time.Time{}, false
	}
	if rest == "Z" {
		return utcTime(s)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// utcTime is time.Parse(time.RFC3339Nano, s) of a date-time in dateTime's
// shape ending in "Z", read as the standard library's own RFC 3339 reader
// (time's parseRFC3339) reads it: each field in its range, the day in its
// month, at most nine digits of the fraction (more are cut), and then
// time.Date in UTC. time.Parse itself first compares its layout with the
// standard ones and then reads the string through generic helpers, which
// cost as much as the rest of the envelope's fields.
func utcTime(s string) (time.Time, bool) {
	num := func(from, to int) int {
		n := 0
		for i := from; i < to; i++ {
			n = n*10 + int(s[i]-'0')
		}
		return n
	}
	year, month, day := num(0, 4), num(5, 7), num(8, 10)
	hour, minute, sec := num(11, 13), num(14, 16), num(17, 19)
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	nsec := 0
	if frac := s[19 : len(s)-1]; frac != "" { // ".ddd", digits only (dateTime)
		digits := min(len(frac)-1, 9)
		nsec = num(20, 20+digits)
		for range 9 - digits {
			nsec *= 10
		}
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

// daysIn is the number of days in month of year (proleptic Gregorian).
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func digit(c byte) bool { return c >= '0' && c <= '9' }

// isID is the envelope's id pattern, ^[a-z0-9][a-z0-9_-]{0,62}$.
func isID(s string) bool {
	if len(s) < 1 || len(s) > 63 || !lowerOrDigit(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !lowerOrDigit(c) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// isKind is ^[a-z][a-z0-9_]{0,31}$.
func isKind(s string) bool {
	if len(s) < 1 || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !lowerOrDigit(c) && c != '_' {
			return false
		}
	}
	return true
}

// isIncarnation is ^[a-z0-9]{8,32}$.
func isIncarnation(s string) bool {
	if len(s) < 8 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !lowerOrDigit(s[i]) {
			return false
		}
	}
	return true
}

// isPointer is ^/(payload|raw)(/.*)?$ ('.' takes anything but a newline).
func isPointer(s string) bool {
	var rest string
	switch {
	case len(s) >= 8 && s[:8] == "/payload":
		rest = s[8:]
	case len(s) >= 4 && s[:4] == "/raw":
		rest = s[4:]
	default:
		return false
	}
	if rest == "" {
		return true
	}
	if rest[0] != '/' {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] == '\n' {
			return false
		}
	}
	return true
}

func lowerOrDigit(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
