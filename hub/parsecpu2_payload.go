package hub

import (
	"reflect"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/kordon/kordon/internal/schema"
)

// payload is a reading's payload as the parse gave it: its members
// (schema.Reading.Members: each name once), or a map. The members are the
// usual form: the rules and the watchlist look up a few of them, and a map
// of them all cost as much as the rest of the payload's read.
type payload struct {
	members []schema.Member // used when m is nil
	m       map[string]any
}

// get is the member called name.
func (p *payload) get(name string) (any, bool) {
	if p.m != nil || p.members == nil {
		v, ok := p.m[name]
		return v, ok
	}
	for i := range p.members {
		if p.members[i].Name == name {
			return p.members[i].Value, true
		}
	}
	return nil, false
}

// asMap is the payload as a map, made from the members when it is not
// one (and kept).
func (p *payload) asMap() map[string]any {
	if p.m == nil && p.members != nil {
		p.m = make(map[string]any, len(p.members))
		for _, kv := range p.members {
			p.m[kv.Name] = kv.Value
		}
	}
	return p.m
}

// celPayload is the rules' "payload" when the payload is its members: the
// CEL map cel-go makes of the payload's map (types.NewStringInterfaceMap,
// as celAdapter makes it), but a member a rule names (payload.alarm, the
// rules' every use) is found among the members, with no map made. All
// else is asked of that CEL map, made the first time it is needed.
type celPayload struct {
	p       *payload
	adapter types.Adapter // the rules' (celAdapter), for the members' values
	full    traits.Mapper
	// the member found last (its place), as a CEL value: a reading's
	// expressions mostly ask for the same one (a thermometer's four,
	// payload.events)
	last    int
	lastVal ref.Val
}

func (c *celPayload) mapper() traits.Mapper {
	if c.full == nil {
		c.full = types.NewStringInterfaceMap(c.adapter, c.p.asMap())
	}
	return c.full
}

// Find implements traits.Mapper: a string key among the members, as the
// map's accessor finds it in the map (types.stringIfaceMapAccessor).
func (c *celPayload) Find(key ref.Val) (ref.Val, bool) {
	s, ok := key.(types.String)
	if !ok || c.p.m != nil {
		return c.mapper().Find(key)
	}
	ms := c.p.members
	if c.lastVal != nil && ms[c.last].Name == string(s) {
		return c.lastVal, true
	}
	for i := range ms {
		if ms[i].Name == string(s) {
			c.last, c.lastVal = i, c.adapter.NativeToValue(ms[i].Value)
			return c.lastVal, true
		}
	}
	return nil, false
}

// Get implements traits.Indexer as the map's (baseMap.Get) does.
func (c *celPayload) Get(key ref.Val) ref.Val {
	v, found := c.Find(key)
	if !found {
		return types.ValOrErr(v, "no such key: %v", key)
	}
	return v
}

// Contains implements traits.Container as the map's does.
func (c *celPayload) Contains(key ref.Val) ref.Val {
	_, found := c.Find(key)
	return types.Bool(found)
}

func (c *celPayload) ConvertToNative(t reflect.Type) (any, error) {
	return c.mapper().ConvertToNative(t)
}
func (c *celPayload) ConvertToType(t ref.Type) ref.Val { return c.mapper().ConvertToType(t) }
func (c *celPayload) Equal(other ref.Val) ref.Val      { return c.mapper().Equal(other) }
func (c *celPayload) Type() ref.Type                   { return types.MapType }
func (c *celPayload) Value() any                       { return c.p.asMap() }
func (c *celPayload) Iterator() traits.Iterator        { return c.mapper().Iterator() }
func (c *celPayload) Size() ref.Val                    { return c.mapper().Size() }

// IsZeroValue is the map's (traits.Zeroer): whether it is empty.
func (c *celPayload) IsZeroValue() bool {
	if z, ok := c.mapper().(traits.Zeroer); ok {
		return z.IsZeroValue()
	}
	return false
}

// Fold is the map's (traits.Foldable), when it has one.
func (c *celPayload) Fold(f traits.Folder) {
	if fm, ok := c.mapper().(traits.Foldable); ok {
		fm.Fold(f)
		return
	}
	it := c.Iterator()
	for it.HasNext() == types.True {
		k := it.Next()
		if !f.FoldEntry(k, c.Get(k)) {
			return
		}
	}
}

// String is the map's, for what prints a value.
func (c *celPayload) String() string {
	if s, ok := c.mapper().(interface{ String() string }); ok {
		return s.String()
	}
	return ""
}
