package schema

import (
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// check is a payload schema compiled to Go: true means the value is valid
// for the schema; false only means "not sure", and the JSON Schema
// validator decides.
//
// It is hand-written because the validator's generic walk (a scope and
// maps per value) was most of what a reading's parse cost after the
// envelope's fast path, and no Go library compiles a JSON Schema to code.
// It takes only the keywords the payload schemas use (compileCheck refuses a
// schema with any other, which then goes to the validator alone), and
// where an answer needs care (numbers with many digits, "integer" written
// as 1.0, enum of numbers) it says "not sure". Tests and a fuzz target
// check that it never accepts what the validator refuses.
type check func(v any) bool

// annotations are keywords that assert nothing.
var annotations = map[string]bool{"$schema": true, "$id": true, "$comment": true, "title": true, "description": true,
	"examples": true, "default": true, "x-personal": true, "$defs": true, "contentEncoding": true, "contentMediaType": true}

// compileCheck compiles schema s (a part of root); ok is false when it
// uses a keyword this compiler does not take.
func compileCheck(root map[string]any, s any, depth int) (check, bool) {
	if depth > 32 {
		return nil, false
	}
	switch b := s.(type) {
	case bool:
		return func(any) bool { return b }, true
	case map[string]any:
	default:
		return nil, false
	}
	m := s.(map[string]any)
	var cs []check
	add := func(c check) { cs = append(cs, c) }
	props := map[string]check{}
	var additional check
	for k, val := range m {
		if annotations[k] {
			continue
		}
		switch k {
		case "type":
			c, ok := typeCheck(val)
			if !ok {
				return nil, false
			}
			add(c)
		case "enum":
			c, ok := enumCheck(val)
			if !ok {
				return nil, false
			}
			add(c)
		case "const":
			c, ok := enumCheck([]any{val})
			if !ok {
				return nil, false
			}
			add(c)
		case "minLength", "maxLength", "maxItems", "minItems":
			n, ok := count(val)
			if !ok {
				return nil, false
			}
			add(sizeCheck(k, n))
		case "pattern":
			p, _ := val.(string)
			re, err := regexp.Compile(p)
			if err != nil {
				return nil, false
			}
			add(func(v any) bool { s, ok := v.(string); return !ok || re.MatchString(s) })
		case "format":
			if val != "date-time" {
				return nil, false
			}
			add(func(v any) bool { s, ok := v.(string); _, t := dateTime(s); return !ok || t })
		case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
			c, ok := boundCheck(k, val)
			if !ok {
				return nil, false
			}
			add(c)
		case "required":
			names, ok := stringList(val)
			if !ok {
				return nil, false
			}
			add(requiredCheck(names))
		case "properties":
			pm, ok := val.(map[string]any)
			if !ok {
				return nil, false
			}
			for name, ps := range pm {
				c, ok := compileCheck(root, ps, depth+1)
				if !ok {
					return nil, false
				}
				props[name] = c
			}
		case "additionalProperties":
			c, ok := compileCheck(root, val, depth+1)
			if !ok {
				return nil, false
			}
			additional = c
		case "items":
			c, ok := compileCheck(root, val, depth+1)
			if !ok {
				return nil, false
			}
			add(func(v any) bool {
				a, ok := v.([]any)
				if !ok {
					return true
				}
				for _, el := range a {
					if !c(el) {
						return false
					}
				}
				return true
			})
		case "uniqueItems":
			if val != true {
				if val == false {
					continue
				}
				return nil, false
			}
			add(uniqueCheck)
		case "$ref":
			ref, _ := val.(string)
			target := resolveLocal(root, ref)
			if target == nil {
				return nil, false
			}
			c, ok := compileCheck(root, target, depth+1)
			if !ok {
				return nil, false
			}
			add(c)
		case "if":
			c, ok := ifCheck(root, m, depth)
			if !ok {
				return nil, false
			}
			add(c)
		case "then", "else":
			if _, has := m["if"]; !has {
				continue // without "if" they assert nothing
			}
		default:
			return nil, false
		}
	}
	if len(props) > 0 || additional != nil {
		add(func(v any) bool {
			o, ok := v.(map[string]any)
			if !ok {
				return true
			}
			for k, el := range o {
				if c, known := props[k]; known {
					if !c(el) {
						return false
					}
				} else if additional != nil && !additional(el) {
					return false
				}
			}
			return true
		})
	}
	return func(v any) bool {
		for _, c := range cs {
			if !c(v) {
				return false
			}
		}
		return true
	}, true
}

func typeCheck(val any) (check, bool) {
	var names []string
	switch t := val.(type) {
	case string:
		names = []string{t}
	case []any:
		for _, el := range t {
			n, ok := el.(string)
			if !ok {
				return nil, false
			}
			names = append(names, n)
		}
	default:
		return nil, false
	}
	for _, n := range names {
		switch n {
		case "object", "array", "string", "number", "integer", "boolean", "null":
		default:
			return nil, false
		}
	}
	return func(v any) bool {
		for _, n := range names {
			if isType(v, n) {
				return true
			}
		}
		return false
	}, true
}

func isType(v any, name string) bool {
	switch x := v.(type) {
	case map[string]any:
		return name == "object"
	case []any:
		return name == "array"
	case string:
		return name == "string"
	case bool:
		return name == "boolean"
	case nil:
		return name == "null"
	case json.Number:
		// 1.0 and 1e2 are integers too; not told here, so "not sure".
		return name == "number" || name == "integer" && !strings.ContainsAny(string(x), ".eE")
	case float64:
		// Read from at most 15 digits (scanner.exact): the float64 is
		// integral exactly when the number written is.
		return name == "number" || name == "integer" && x == math.Trunc(x)
	}
	return false
}

// enumCheck takes enums of strings, booleans, null and integers of at
// most 15 digits (other numbers and structures among them are not
// compiled: their equality needs care).
func enumCheck(val any) (check, bool) {
	list, ok := val.([]any)
	if !ok {
		return nil, false
	}
	var ints []int64
	for _, el := range list {
		switch x := el.(type) {
		case string, bool, nil:
		case json.Number:
			n, ok := smallInt(x)
			if !ok {
				return nil, false
			}
			ints = append(ints, n)
		default:
			return nil, false
		}
	}
	return func(v any) bool {
		switch x := v.(type) {
		case string, bool, nil:
			for _, el := range list {
				if _, num := el.(json.Number); !num && el == v {
					return true
				}
			}
		case json.Number:
			if n, ok := smallInt(x); ok {
				for _, i := range ints {
					if i == n {
						return true
					}
				}
			}
		case float64:
			// At most 15 digits, as the integers: both exact in float64.
			for _, i := range ints {
				if float64(i) == x {
					return true
				}
			}
		}
		return false
	}, true
}

// smallInt reads an integer written without fraction or exponent, of at
// most 15 digits.
func smallInt(n json.Number) (int64, bool) {
	if !simpleNumber(string(n)) || strings.Contains(string(n), ".") {
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	return i, err == nil
}

func count(val any) (int, bool) {
	lit, _ := val.(json.Number)
	n, err := strconv.Atoi(string(lit))
	return n, err == nil && n >= 0
}

func sizeCheck(k string, n int) check {
	switch k {
	case "minLength":
		return func(v any) bool { s, ok := v.(string); return !ok || utf8.RuneCountInString(s) >= n }
	case "maxLength":
		return func(v any) bool { s, ok := v.(string); return !ok || utf8.RuneCountInString(s) <= n }
	case "minItems":
		return func(v any) bool { a, ok := v.([]any); return !ok || len(a) >= n }
	default:
		return func(v any) bool { a, ok := v.([]any); return !ok || len(a) <= n }
	}
}

// boundCheck compares in float64 only numbers of at most 15 significant
// digits without an exponent: two such numbers that differ are different
// float64s, so the comparison is the exact one. Others are "not sure".
func boundCheck(k string, val any) (check, bool) {
	lit, _ := val.(json.Number) // the schema's own text (Decode)
	if !simpleNumber(string(lit)) {
		return nil, false
	}
	bf, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		return nil, false
	}
	return func(v any) bool {
		var f float64
		switch n := v.(type) {
		case float64:
			f = n // read from a simple number (scanner.exact)
		case json.Number:
			if !simpleNumber(string(n)) {
				return false
			}
			var err error
			if f, err = strconv.ParseFloat(string(n), 64); err != nil {
				return false
			}
		default:
			return true
		}
		switch k {
		case "minimum":
			return f >= bf
		case "maximum":
			return f <= bf
		case "exclusiveMinimum":
			return f > bf
		default:
			return f < bf
		}
	}, true
}

func simpleNumber[T string | []byte](s T) bool {
	if len(s) == 0 {
		return false
	}
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '-' && i == 0, c == '.':
		default:
			return false
		}
	}
	return digits <= 15
}

func requiredCheck(names []string) check {
	return func(v any) bool {
		o, ok := v.(map[string]any)
		if !ok {
			return true
		}
		for _, n := range names {
			if _, has := o[n]; !has {
				return false
			}
		}
		return true
	}
}

// uniqueCheck is sure only of arrays of strings and booleans.
func uniqueCheck(v any) bool {
	a, ok := v.([]any)
	if !ok {
		return true
	}
	for i, el := range a {
		switch el.(type) {
		case string, bool:
		default:
			return false
		}
		for _, prev := range a[:i] {
			if prev == el {
				return false
			}
		}
	}
	return true
}

// ifCheck compiles if/then/else where "if" holds only "required": that
// condition is told exactly, so the branch taken is the validator's.
func ifCheck(root, m map[string]any, depth int) (check, bool) {
	cond, ok := m["if"].(map[string]any)
	if !ok || len(cond) != 1 {
		return nil, false
	}
	req, ok := compileCheck(root, map[string]any{"required": cond["required"]}, depth+1)
	if !ok {
		return nil, false
	}
	branch := func(k string) (check, bool) {
		s, has := m[k]
		if !has {
			return func(any) bool { return true }, true
		}
		return compileCheck(root, s, depth+1)
	}
	then, ok1 := branch("then")
	els, ok2 := branch("else")
	if !ok1 || !ok2 {
		return nil, false
	}
	return func(v any) bool {
		if req(v) {
			return then(v)
		}
		return els(v)
	}, true
}

// resolveLocal follows "#/a/b" within root.
func resolveLocal(root map[string]any, ref string) any {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	var cur any = root
	for _, part := range strings.Split(rest, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[strings.NewReplacer("~1", "/", "~0", "~").Replace(part)]
	}
	return cur
}
