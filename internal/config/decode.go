package config

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Parse decodes b (the content of path) strictly into v, a pointer to a
// struct with yaml tags, recording every mistake. Unexported fields are left
// alone; a yaml.Node field receives its node as written.
func Parse(path string, b []byte, v any) *Doc { return ParseAt(path, b, v, "") }

// ParseAt is Parse for a file whose top level is the value of field: a
// file holding only a list of devices is ParseAt(path, b, &devices, "devices").
func ParseAt(path string, b []byte, v any, field string) *Doc {
	d := newDoc(path)
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		line, msg := syntaxError(err)
		d.errs = append(d.errs, &Error{File: path, Line: line, Msg: "YAML syntax: " + msg})
		return d
	}
	if root.Kind == 0 || len(root.Content) == 0 || isNull(root.Content[0]) {
		d.errs = append(d.errs, &Error{File: path, Line: 1, Msg: "empty file"})
		return d
	}
	top := root.Content[0]
	target := reflect.ValueOf(v).Elem()
	if target.Kind() == reflect.Struct && top.Kind != yaml.MappingNode {
		d.errs = append(d.errs, &Error{File: path, Line: top.Line, Msg: "want a mapping of settings (key: value lines), got " + describe(top)})
		return d
	}
	if field != "" {
		d.lines[field] = top.Line
	}
	d.decode(top, target, field)
	return d
}

var syntaxLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// parserProblems are the messages of yaml.v3's parser (not its scanner).
// yaml.v3 v3.0.1 reports their line counted from 0 (decode.go, fail: only
// scanner errors get the +1), so one is added here.
var parserProblems = []string{
	"did not find expected <document start>",
	"did not find expected node content",
	"did not find expected key",
	"did not find expected '-' indicator",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
}

func syntaxError(err error) (int, string) {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	m := syntaxLine.FindStringSubmatch(err.Error())
	if m == nil {
		return 1, s
	}
	n, _ := strconv.Atoi(m[1])
	msg := strings.TrimPrefix(err.Error(), m[0])
	if slices.Contains(parserProblems, msg) {
		n++
	}
	return n, msg
}

var (
	nodeType     = reflect.TypeOf(yaml.Node{})
	durationType = reflect.TypeOf(time.Duration(0))
	unmarshaler  = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// describe names what a node is, in words.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return fmt.Sprintf("%q", n.Value)
}

func (d *Doc) fail(n *yaml.Node, field, format string, args ...any) {
	d.bad[field] = true
	d.errs = append(d.errs, &Error{File: d.File, Line: n.Line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (d *Doc) decode(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	t := v.Type()
	if t == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if isNull(n) {
		return // an empty value leaves the default
	}
	if reflect.PointerTo(t).Implements(unmarshaler) {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.fail(n, path, "%s", cleanMessage(err, path))
		}
		return
	}
	if t == durationType {
		d.duration(n, v, path)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		d.decode(n, p.Elem(), path)
		v.Set(p)
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "want a list (lines starting with -), got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.lines[p] = c.Line
			d.decode(c, s.Index(i), p)
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "want a mapping (key: value lines), got %s", describe(n))
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(t))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			d.lines[p] = k.Line
			kv := reflect.New(t.Key()).Elem()
			d.decode(k, kv, p)
			ev := reflect.New(t.Elem()).Elem()
			d.decode(val, ev, p)
			v.SetMapIndex(kv, ev)
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(n, path, "want a single value, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
			d.fail(n, path, "%s is not true or false", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, ok := d.integer(n, path)
		if !ok {
			return
		}
		lo, hi := int64(math.MinInt64)>>(64-t.Bits()), int64(math.MaxInt64)>>(64-t.Bits())
		if i < lo || i > hi {
			d.fail(n, path, "%d is out of range (%d to %d)", i, lo, hi)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		i, ok := d.integer(n, path)
		if !ok {
			return
		}
		hi := uint64(math.MaxUint64) >> (64 - t.Bits())
		if i < 0 || uint64(i) > hi {
			d.fail(n, path, "%d is out of range (0 to %d)", i, hi)
			return
		}
		v.SetUint(uint64(i))
	case reflect.Float32, reflect.Float64:
		var f float64
		if n.Kind != yaml.ScalarNode || n.Decode(&f) != nil {
			d.fail(n, path, "%s is not a number", describe(n))
			return
		}
		v.SetFloat(f)
	default:
		// interface{} and other kinds take whatever is written.
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.fail(n, path, "%s", cleanMessage(err, path))
		}
	}
}

func (d *Doc) integer(n *yaml.Node, path string) (int64, bool) {
	var i int64
	if n.Kind == yaml.ScalarNode && n.Tag != "!!float" && n.Decode(&i) == nil {
		return i, true
	}
	var f float64
	if n.Kind == yaml.ScalarNode && n.Tag == "!!float" && n.Decode(&f) == nil {
		d.fail(n, path, "%s is not a whole number", n.Value)
		return 0, false
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		d.fail(n, path, "%s is too large", n.Value)
		return 0, false
	}
	d.fail(n, path, "%s is not a whole number", describe(n))
	return 0, false
}

func (d *Doc) duration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "want a duration such as 20s or 5m, got %s", describe(n))
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		if _, nerr := strconv.ParseFloat(n.Value, 64); nerr == nil {
			d.fail(n, path, "%s is not a duration (write %ss)", n.Value, n.Value)
		} else {
			d.fail(n, path, "%q is not a duration (write e.g. 20s, 5m or 1h30m)", n.Value)
		}
		return
	}
	v.SetInt(int64(dur))
}

func (d *Doc) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping (key: value lines), got %s", describe(n))
		return
	}
	fields := structFields(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		if prev, dup := seen[k.Value]; dup {
			d.fail(k, p, "written twice (first on line %d)", prev)
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := fields[k.Value]
		if !ok {
			d.fail(k, p, "unknown field%s", suggest(k.Value, keys(fields)))
			// A misspelt field is also missing; saying so again helps no one.
			if best := closest(k.Value, keys(fields)); best != "" && !written(n, best) {
				d.bad[join(path, best)] = true
			}
			continue
		}
		d.lines[p] = k.Line
		d.decode(val, v.FieldByIndex(idx), p)
	}
}

func written(mapping *yaml.Node, key string) bool {
	for i := 0; i+1 < len(mapping.Content); i += 2 {
		if mapping.Content[i].Value == key {
			return true
		}
	}
	return false
}

// structFields maps yaml names to field index paths, inline structs included.
func structFields(t reflect.Type) map[string][]int {
	m := map[string][]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, flags, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if strings.Contains(flags, "inline") && f.Type.Kind() == reflect.Struct {
			for k, idx := range structFields(f.Type) {
				m[k] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = []int{i}
	}
	return m
}

func keys(m map[string][]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// cleanMessage strips what yaml.v3 and custom unmarshalers put before the
// message itself ("yaml: unmarshal errors:", "line 4: ", the field again).
func cleanMessage(err error, field string) string {
	s := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n")
	s = strings.TrimSpace(s)
	s = syntaxLine.ReplaceAllString(s, "")
	if field != "" {
		s = strings.TrimPrefix(s, field+": ")
		if i := strings.LastIndex(field, "."); i >= 0 {
			s = strings.TrimPrefix(s, field[i+1:]+": ")
		}
	}
	if strings.Contains(s, "cannot unmarshal") {
		return "has the wrong type of value"
	}
	return s
}

// DecodeNode decodes one mapping node strictly into v, for settings kept as
// a node until their owner knows their type (a device's options). Fields in
// the errors are relative to n.
func DecodeNode(file string, n *yaml.Node, v any) Errors {
	d := newDoc(file)
	d.decode(n, reflect.ValueOf(v).Elem(), "")
	return d.errs
}
