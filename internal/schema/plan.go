package schema

// plan is a payload schema's top-level object checks (properties,
// required, additionalProperties, and an if/then/else on required names),
// or those of the objects in one of its arrays (items), made while the
// scanner reads the object's members: each member's name
// is looked up once, in the plan, which gives its check, and the value is
// checked as it is read. The compiled check (check) does the same by
// walking the finished map: a look-up of every member in a second map,
// and of every required name, after the scan's own. Like a check, a plan
// is sure only of what it says yes to: false sends the payload to the
// JSON Schema validator.
type plan struct {
	props map[string]*planProp // every property either variant names
	// variants are the object schemas a payload may be held to: one, or
	// two when the schema is "if (these are present) then A else B".
	variants []variant
	cond     []string // the if's required names (two variants)
	size     int      // the most properties a variant names: the map's size
	names    nameIndex
}

// nameIndex finds a member name among a plan's property names by a hash
// of its length and three of its bytes into a table made without
// collisions when the plan is: a look-up is the hash and one comparison,
// where the map's hashed the whole name and probed (a sixth of a
// document's read). A plan whose names no table of at most 1024 slots
// separates keeps the map (slots is then nil).
type nameIndex struct {
	mul   uint32
	mask  uint32
	slots []planSlot
}

type planSlot struct {
	name string
	prop *planProp
}

func (x *nameIndex) slot(k string) uint32 {
	n := len(k)
	if n == 0 {
		return 0
	}
	h := (uint32(n) | uint32(k[0])<<8 | uint32(k[n/2])<<16 | uint32(k[n-1])<<24) * x.mul
	return h >> 16 & x.mask
}

// makeIndex makes p's name index, once all its variants are added.
func (p *plan) makeIndex() {
	for size := uint32(16); size <= 1024; size *= 2 {
		if size < 2*uint32(len(p.props)) {
			continue
		}
	muls:
		for _, mul := range [...]uint32{0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F, 0x165667B1} {
			x := nameIndex{mul: mul, mask: size - 1, slots: make([]planSlot, size)}
			for name, pp := range p.props {
				sl := &x.slots[x.slot(name)]
				if sl.prop != nil {
					continue muls
				}
				*sl = planSlot{name, pp}
			}
			p.names = x
			return
		}
	}
}

// prop is the property k names, or nil.
func (p *plan) prop(k string) *planProp {
	if p.names.slots == nil {
		return p.props[k]
	}
	if sl := &p.names.slots[p.names.slot(k)]; sl.name == k {
		return sl.prop
	}
	return nil
}

// planProp is one property name's check per variant (nil where that
// variant does not name it) and required bit.
type planProp struct {
	idx   int // its place among the plan's properties
	check [2]check
	bit   [2]uint64
	// items is, for a variant whose schema of this name is an array of
	// objects of a shape plans take, the items' plan: the array is then
	// read with it, each object checked as it is read rather than walked
	// afterwards, and own is the array schema's check without "items".
	items [2]*plan
	own   [2]check
}

// variant is one object schema's required names (bits) and what it
// holds of members it does not name: additional is nil when it takes
// any.
type variant struct {
	required   uint64
	additional check
}

// planKeywords are the top-level keywords a plan takes; a schema with
// any other (such as minProperties or $ref) has no plan.
var planKeywords = map[string]bool{"type": true, "required": true, "properties": true, "additionalProperties": true,
	"if": true, "then": true, "else": true}

// compilePlan makes the plan of root, a payload schema, when it is an
// object schema in one of the two shapes a plan takes: properties,
// required and additionalProperties at its top, or only an if/then/else
// whose "if" holds only "required" and whose branches hold only those
// three (besides annotations).
func compilePlan(root map[string]any) *plan {
	for k := range root {
		if !annotations[k] && !planKeywords[k] {
			return nil
		}
	}
	if t, has := root["type"]; has && t != "object" {
		return nil
	}
	p := &plan{props: map[string]*planProp{}}
	if _, has := root["if"]; !has {
		if _, has := root["then"]; has {
			return nil // asserts nothing, but not worth a third shape
		}
		if _, has := root["else"]; has {
			return nil
		}
		if !p.addVariant(root, root) {
			return nil
		}
		p.makeIndex()
		return p
	}
	for _, k := range []string{"properties", "additionalProperties", "required"} {
		if _, has := root[k]; has {
			return nil
		}
	}
	cond, ok := root["if"].(map[string]any)
	if !ok || len(cond) != 1 {
		return nil
	}
	names, ok := stringList(cond["required"])
	if !ok {
		return nil
	}
	p.cond = names
	for _, k := range []string{"then", "else"} {
		branch := map[string]any{} // no branch: anything goes
		if b, has := root[k]; has {
			if branch, ok = b.(map[string]any); !ok {
				return nil
			}
		}
		for bk := range branch {
			if !annotations[bk] && bk != "properties" && bk != "required" && bk != "additionalProperties" {
				return nil
			}
		}
		if !p.addVariant(root, branch) {
			return nil
		}
	}
	p.makeIndex()
	return p
}

// addVariant adds the object schema s (a part of root) as the next
// variant.
func (p *plan) addVariant(root, s map[string]any) bool {
	vi := len(p.variants)
	var v variant
	props, _ := s["properties"].(map[string]any)
	if _, has := s["properties"]; has && props == nil {
		return false
	}
	for name, ps := range props {
		c, ok := compileCheck(root, ps, 1)
		if !ok {
			return false
		}
		pp := p.props[name]
		if pp == nil {
			pp = &planProp{idx: len(p.props)}
			p.props[name] = pp
		}
		pp.check[vi] = c
		if ip, own := compileArrayPlan(root, ps); ip != nil {
			pp.items[vi], pp.own[vi] = ip, own
		}
	}
	p.size = max(p.size, len(props))
	if a, has := s["additionalProperties"]; has {
		c, ok := compileCheck(root, a, 1)
		if !ok {
			return false
		}
		v.additional = c
	}
	if r, has := s["required"]; has {
		names, ok := stringList(r)
		if !ok {
			return false
		}
		for _, name := range names {
			pp := p.props[name]
			if pp == nil {
				// Required without a property schema: any value, but
				// its name is still looked up here.
				pp = &planProp{idx: len(p.props)}
				p.props[name] = pp
			}
			if pp.bit[vi] == 0 {
				n := countBits(v.required)
				if n == 64 {
					return false
				}
				pp.bit[vi] = 1 << n
				v.required |= pp.bit[vi]
			}
		}
	}
	p.variants = append(p.variants, v)
	return true
}

// compileArrayPlan gives, for ps (a property's schema, which compiled)
// that holds "items" of an object schema in the shape plans take at their
// top (properties, required, additionalProperties, type "object"), the
// items' plan and the check of ps without its "items"; nil otherwise.
func compileArrayPlan(root map[string]any, ps any) (*plan, check) {
	m, _ := ps.(map[string]any)
	items, _ := m["items"].(map[string]any)
	if items == nil {
		return nil, nil
	}
	for k := range items {
		if !annotations[k] && k != "type" && k != "properties" && k != "required" && k != "additionalProperties" {
			return nil, nil
		}
	}
	if t, has := items["type"]; has && t != "object" {
		return nil, nil
	}
	ip := &plan{props: map[string]*planProp{}}
	if !ip.addVariant(root, items) {
		return nil, nil
	}
	ip.makeIndex()
	rest := make(map[string]any, len(m))
	for k, v := range m {
		if k != "items" {
			rest[k] = v
		}
	}
	own, ok := compileCheck(root, rest, 1)
	if !ok {
		return nil, nil
	}
	return ip, own
}

func countBits(x uint64) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

func stringList(v any) ([]string, bool) {
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(list))
	for _, el := range list {
		s, ok := el.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// planState is what a payload's scan has found so far against its plan,
// per variant: whether a member failed (or was not sure) and which
// required names were seen.
type planState struct {
	bad [2]bool
	got [2]uint64
}

// itemsPlan is the plan to read the value of pp's member with: the items'
// plan of the first variant still in the running that has one.
func (p *plan) itemsPlan(st *planState, pp *planProp) *plan {
	if pp == nil {
		return nil
	}
	for vi := range p.variants {
		if !st.bad[vi] && pp.items[vi] != nil {
			return pp.items[vi]
		}
	}
	return nil
}

// member checks one member of the payload; pp is nil for a name the plan
// does not know. When the member was an array read with the items' plan
// read (non-nil), itemsSure is that plan's verdict on every item.
func (p *plan) member(st *planState, pp *planProp, el any, read *plan, itemsSure bool) {
	for vi := range p.variants {
		if st.bad[vi] {
			continue
		}
		var c check
		if pp != nil {
			st.got[vi] |= pp.bit[vi]
			c = pp.check[vi]
			if read != nil && pp.items[vi] == read {
				if !itemsSure || !pp.own[vi](el) {
					st.bad[vi] = true
				}
				continue
			}
		}
		if c == nil {
			c = p.variants[vi].additional // not a property of this variant (if only required)
		}
		if c != nil && !c(el) {
			st.bad[vi] = true
		}
	}
}

// sure reports whether the payload, read member by member into st, is
// valid for the schema; has tells whether it has a member of a name.
func (p *plan) sure(st *planState, has func(string) bool) bool {
	vi := p.variant(has)
	return !st.bad[vi] && st.got[vi] == p.variants[vi].required
}

// variant is the variant a payload is held to: the "then" one (0) when it
// has every name of the "if".
func (p *plan) variant(has func(string) bool) int {
	if len(p.variants) == 1 {
		return 0
	}
	for _, n := range p.cond {
		if !has(n) {
			return 1
		}
	}
	return 0
}
