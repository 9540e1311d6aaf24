package actuator

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"

	"github.com/kordon/kordon/internal/reading"
)

// Spec is one local rule as an installer writes it in the actuator's
// options, in CEL with the variables the hub's rules see (docs/rules.md):
//
//	on:
//	  - name: bad-document
//	    when: kind == "document" && !payload.valid
//
// The fields after When are the equality form boxes were configured with
// before rules were CEL; Compile reads them as the CEL they stand for.
type Spec struct {
	Name string `yaml:"name"` // shown as the cause; default "rule N"
	When string `yaml:"when"` // CEL boolean expression

	Device  string         `yaml:"device"`
	Kind    string         `yaml:"kind"`
	Quality string         `yaml:"quality"`
	Payload map[string]any `yaml:"payload"`
}

// Rule is a compiled Spec.
type Rule struct {
	Name string
	When string // the CEL source, as compiled
	prg  cel.Program
}

// Compiler compiles rules in one CEL environment.
type Compiler struct {
	env *cel.Env
}

// Variables declares what a rule's expression sees of a reading, the same
// at the hub (its alert rules) and on the box (its local triggers), so a
// rule reads the same at both ends.
func Variables() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Variable("kind", cel.StringType),
		cel.Variable("box", cel.StringType),
		cel.Variable("device", cel.StringType),
		cel.Variable("driver", cel.StringType),
		cel.Variable("quality", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("payload", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("origin", cel.TimestampType),
		cel.Variable("historical", cel.BoolType),
	}
}

// NewCompiler builds the environment: the hub's variable names and types,
// so a rule reads the same at both ends.
func NewCompiler() (*Compiler, error) {
	env, err := cel.NewEnv(Variables()...)
	if err != nil {
		return nil, err
	}
	return &Compiler{env: env}, nil
}

// FieldError is a rule mistake and the field of the rule it is in ("when",
// "name", "payload"), so the caller can point at that line.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Compile checks one rule. The equality form is turned into its CEL.
func (c *Compiler) Compile(s Spec) (Rule, error) {
	legacy := s.Device != "" || s.Kind != "" || s.Quality != "" || len(s.Payload) > 0
	when := strings.TrimSpace(s.When)
	switch {
	case when != "" && legacy:
		return Rule{}, &FieldError{"when", "give a CEL expression in when, or the older device/kind/quality/payload fields, not both"}
	case legacy:
		var err error
		if when, err = s.legacyCEL(); err != nil {
			return Rule{}, err
		}
	case when == "":
		return Rule{}, &FieldError{"when", `missing: a CEL boolean expression, e.g. when: kind == "document" && !payload.valid`}
	}
	ast, iss := c.env.Compile(when)
	if iss.Err() != nil {
		return Rule{}, &FieldError{"when", celIssues(iss.Err().Error())}
	}
	// dyn (a payload field) is checked when it runs: a non-bool does not fire.
	if out := ast.OutputType(); !out.IsExactType(cel.BoolType) && !out.IsExactType(cel.DynType) {
		return Rule{}, &FieldError{"when", fmt.Sprintf("must be a bool expression, is %v", out)}
	}
	prg, err := c.env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return Rule{}, &FieldError{"when", err.Error()}
	}
	return Rule{Name: s.Name, When: when, prg: prg}, nil
}

// celIssues keeps each CEL error's message and column, without the
// source excerpt cel-go draws under it (the config line shows the source).
func celIssues(msg string) string {
	var out []string
	for _, l := range strings.Split(msg, "\n") {
		rest, ok := strings.CutPrefix(l, "ERROR: <input>:")
		if !ok {
			continue
		}
		// rest is line:column: message
		if _, after, ok := strings.Cut(rest, ":"); ok {
			if col, m, ok := strings.Cut(after, ": "); ok {
				out = append(out, "column "+col+": "+m)
				continue
			}
		}
		out = append(out, rest)
	}
	if len(out) == 0 {
		return msg
	}
	return strings.Join(out, "; ")
}

// legacyCEL is the CEL the equality form means: every condition holds.
func (s Spec) legacyCEL() (string, error) {
	var conds []string
	if s.Device != "" {
		conds = append(conds, "device == "+strconv.Quote(s.Device))
	}
	if s.Kind != "" {
		conds = append(conds, "kind == "+strconv.Quote(s.Kind))
	}
	switch s.Quality {
	case "":
	case string(reading.OK), string(reading.Suspect), string(reading.Bad):
		conds = append(conds, `quality.status == `+strconv.Quote(s.Quality))
	default:
		return "", &FieldError{"quality", fmt.Sprintf("must be ok, suspect or bad (got %q); in CEL: when: quality.status == \"bad\"", s.Quality)}
	}
	for _, k := range slices.Sorted(maps.Keys(s.Payload)) {
		path := strings.Split(k, ".")
		if slices.Contains(path, "") {
			return "", &FieldError{"payload", fmt.Sprintf("empty field name in %q", k)}
		}
		lit, err := literal(s.Payload[k])
		if err != nil {
			return "", &FieldError{"payload", fmt.Sprintf("%s: %v; write the condition in CEL instead, e.g. when: %q", k, err, "payload."+k+" == ...")}
		}
		// has() first: a reading without the field does not match (as the
		// equality form did) rather than failing to evaluate.
		conds = append(conds, fmt.Sprintf("has(payload.%s) && payload.%s == %s", k, k, lit))
	}
	return strings.Join(conds, " && "), nil
}

// literal writes a YAML scalar as a CEL literal that equals what the JSON
// payload holds: every JSON number is a double.
func literal(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x), nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.FormatFloat(float64(x), 'f', -1, 64) + ".0", nil
	case int64:
		return strconv.FormatFloat(float64(x), 'f', -1, 64) + ".0", nil
	case uint64:
		return strconv.FormatFloat(float64(x), 'f', -1, 64) + ".0", nil
	case float64:
		s := strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eE") {
			s += ".0"
		}
		return s, nil
	case nil:
		return "", errors.New("a value is needed (string, number or boolean)")
	}
	return "", fmt.Errorf("only strings, numbers and booleans can be compared (got %T)", v)
}

// Input is one reading as the box's line has it.
type Input struct {
	Reading *reading.Reading
	// Envelope is the reading as the hub receives it: rules compare what
	// the hub would see, whatever Go type the driver used.
	Envelope []byte
	// Decoded, when the line has parsed Envelope already (to validate it,
	// with numbers as json.Number), spares the rules parsing it again.
	// Rules that read the payload convert its numbers in place.
	Decoded map[string]any
}

// Vars are the variables one reading gives the rules. The payload is
// taken from the envelope only when a rule reads it, and once for all
// rules: most rules are decided by kind or device alone.
type Vars struct {
	in      Input
	payload map[string]any
	decoded bool
	parent  interpreter.Activation
}

// NewVars gives the rules one reading.
func NewVars(in Input) *Vars {
	return &Vars{in: in, parent: interpreter.EmptyActivation()}
}

// ResolveName implements interpreter.Activation.
func (v *Vars) ResolveName(name string) (any, bool) {
	r := v.in.Reading
	switch name {
	case "kind":
		return r.Kind(), true
	case "box":
		return r.Box, true
	case "device":
		return r.Device, true
	case "driver":
		return r.Driver, true
	case "quality":
		return map[string]string{"status": string(r.Quality.Status), "reason": r.Quality.Reason}, true
	case "origin":
		return r.Origin.UTC(), true
	case "historical":
		return r.Historical, true
	case "payload":
		if !v.decoded {
			v.decoded = true
			v.payload = v.payloadMap()
		}
		return v.payload, true
	}
	return nil, false
}

func (v *Vars) payloadMap() map[string]any {
	if p, ok := v.in.Decoded["payload"].(map[string]any); ok {
		numbersToFloat(p)
		return p
	}
	var e struct {
		Payload map[string]any `json:"payload"`
	}
	if json.Unmarshal(v.in.Envelope, &e) == nil && e.Payload != nil {
		return e.Payload
	}
	return map[string]any{}
}

// numbersToFloat turns json.Number into float64, in place, as
// encoding/json decodes numbers: CEL compares doubles, and the hub's
// rules see every JSON number as one.
func numbersToFloat(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbersToFloat(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbersToFloat(e)
		}
	}
	return v
}

// Parent implements interpreter.Activation.
func (v *Vars) Parent() interpreter.Activation { return v.parent }

// Holds says whether the rule holds for the reading. A rule that fails to
// evaluate (a field this payload lacks) or yields no bool does not hold.
func (r *Rule) Holds(v *Vars) bool {
	if r.prg == nil {
		return false
	}
	out, _, err := r.prg.Eval(v)
	return err == nil && out == types.True
}
