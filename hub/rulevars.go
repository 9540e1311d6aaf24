package hub

import (
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"

	"github.com/kordon/kordon/internal/reading"
)

// ruleInput is the variables the rules' expressions see for one reading
// (docs/rules.md), resolved from the parsed reading as an expression asks
// for them. A map of every variable (what cel-go takes otherwise) cost a
// map, its entries and their conversions for every reading, and each name
// an expression used was looked up and converted again in each of the
// reading's expressions; here each is converted once per reading. It
// serves one goroutine: match runs a reading's expressions in turn.
type ruleInput struct {
	r       *reading.Reading
	kind    string
	payload *payload
	adapter types.Adapter // the rules' (match sets it), for payloadV

	// the variables as CEL values, made when first asked for
	kindV, boxV, deviceV, driverV, originV ref.Val
	quality                                map[string]string
	payloadV                               celPayload
}

// ruleVars are the variables the expressions see (docs/rules.md).
func ruleVars(r *reading.Reading, m map[string]any) *ruleInput {
	return &ruleInput{r: r, kind: r.Kind(), payload: &payload{m: m}}
}

// ResolveName gives the value of a variable the environment declares
// (celEnv); the values are those cel-go makes of kind, box, device and
// driver as strings, quality as a map[string]string, payload as the map
// (or, from its members, celPayload: the CEL map cel-go makes of it),
// origin as a time.Time in UTC and historical as a bool.
func (in *ruleInput) ResolveName(name string) (any, bool) {
	var v *ref.Val
	switch name {
	case "kind":
		if v = &in.kindV; *v == nil {
			*v = types.String(in.kind)
		}
	case "box":
		if v = &in.boxV; *v == nil {
			*v = types.String(in.r.Box)
		}
	case "device":
		if v = &in.deviceV; *v == nil {
			*v = types.String(in.r.Device)
		}
	case "driver":
		if v = &in.driverV; *v == nil {
			*v = types.String(in.r.Driver)
		}
	case "origin":
		if v = &in.originV; *v == nil {
			*v = types.Timestamp{Time: in.r.Origin.UTC()}
		}
	case "historical":
		return types.Bool(in.r.Historical), true
	case "quality":
		if in.quality == nil {
			in.quality = map[string]string{"status": string(in.r.Quality.Status), "reason": in.r.Quality.Reason}
		}
		return in.quality, true
	case "payload":
		if in.payload.m != nil || in.payload.members == nil || in.adapter == nil {
			return in.payload.asMap(), true
		}
		if in.payloadV.p == nil {
			in.payloadV = celPayload{p: in.payload, adapter: in.adapter}
		}
		return &in.payloadV, true
	default:
		return nil, false
	}
	return *v, true
}

// Parent is none: the reading's variables are all there is.
func (in *ruleInput) Parent() interpreter.Activation { return nil }

// celAdapter converts the Go values of a reading's payload to CEL values
// the way cel-go's own registry does, taking the payload's kinds of value
// (what a JSON decode gives) first: the registry's conversion tries some
// fifty Go types before reaching a []any, and reflects on every list. An
// empty list, the usual list of a routine reading, is one shared value
// (CEL values are immutable).
type celAdapter struct {
	types.Adapter // the registry, for every other value
	empty         ref.Val
}

func newCELAdapter(reg types.Adapter) *celAdapter {
	return &celAdapter{Adapter: reg, empty: types.NewRefValList(reg, []ref.Val{})}
}

// NativeToValue implements types.Adapter.
func (a *celAdapter) NativeToValue(v any) ref.Val {
	switch x := v.(type) {
	case types.String, types.Bool, types.Double, types.Int, types.Timestamp:
		return x.(ref.Val) // resolved by ruleInput
	case *celPayload:
		return x
	case string:
		return types.String(x)
	case float64:
		return types.Double(x)
	case bool:
		return types.Bool(x)
	case nil:
		return types.NullValue
	case map[string]any:
		return types.NewStringInterfaceMap(a, x)
	case []any:
		if len(x) == 0 {
			return a.empty
		}
		return types.NewDynamicList(a, x)
	case *types.Bool, *types.Bytes, *types.Double, *types.Int, *types.String, *types.Uint:
		return a.Adapter.NativeToValue(v) // dereferenced, as the registry does
	case ref.Val:
		// A value CEL made (a member's list or map as the rules' payload
		// gave it): the registry gives it back as it is, after some fifty
		// other types.
		return x
	}
	return a.Adapter.NativeToValue(v)
}
