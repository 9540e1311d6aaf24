// Package config loads YAML configuration files strictly, for people: every
// mistake is reported at once, each naming file, line and field in plain
// words ("adress: unknown field (did you mean address?)", "timeout: 20 is
// not a duration (write 20s)").
//
// yaml.v3's own strict decoding stops at the first error and names Go types
// (`field adress not found in type edge.HubConfig`), so this package walks the
// yaml.Node tree against the target struct itself and keeps going.
package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
)

// Error is one mistake a person must fix.
type Error struct {
	File  string
	Line  int    // 0 when the mistake is the file as a whole
	Field string // dotted path, e.g. hub.address or devices[1].driver; "" for syntax
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Field != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(e.Field)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors are all the mistakes of one file, in line order. Error prints one
// per line.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap lets errors.As find each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// List returns the mistakes an error holds: the Errors of this package, any
// *Error, or other errors as one entry of file.
func List(err error) Errors {
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	var e *Error
	if errors.As(err, &e) {
		return Errors{e}
	}
	if err == nil {
		return nil
	}
	return Errors{{Msg: err.Error()}}
}

// Doc is one configuration file being loaded: its field lines and the
// mistakes found so far. Validation code adds to it with Errorf and the
// helpers in check.go, then returns Err.
type Doc struct {
	File  string
	lines map[string]int  // field path -> line it is written on
	bad   map[string]bool // fields whose value could not be read
	errs  Errors
}

func newDoc(path string) *Doc {
	return &Doc{File: path, lines: map[string]int{}, bad: map[string]bool{}}
}

// Load reads path and decodes it strictly into v (a pointer to a struct).
// A missing or unreadable file is reported as a Doc error too, so the caller
// always gets a Doc to add its own checks to.
func Load(path string, v any) *Doc {
	b, err := os.ReadFile(path)
	if err != nil {
		d := newDoc(path)
		d.errs = append(d.errs, &Error{File: path, Msg: readError(err)})
		return d
	}
	return Parse(path, b, v)
}

func readError(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.Is(err, fs.ErrPermission):
		return "not allowed to read it (permission denied)"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return "cannot read: " + pe.Err.Error()
	}
	return "cannot read: " + err.Error()
}

// Failed says whether the file could not be read or parsed at all, so later
// checks (which would only repeat "missing" for every field) can be skipped.
func (d *Doc) Failed() bool {
	for _, e := range d.errs {
		if e.Field == "" {
			return true
		}
	}
	return false
}

// Errorf records a mistake in field, at the line the field is written on
// (or, when it is not written, the line of the nearest enclosing field).
// A field whose value (or an enclosing one) could not be read at all has
// its mistake reported already, so later checks of it are not repeated.
func (d *Doc) Errorf(field, format string, args ...any) {
	for p := field; p != ""; p = parent(p) {
		if d.bad[p] {
			return
		}
	}
	d.errs = append(d.errs, &Error{File: d.File, Line: d.Line(field), Field: field, Msg: fmt.Sprintf(format, args...)})
}

// Add records an error found by other code (a driver's option check, say).
// An *Error or Errors is kept as it is; anything else is put at field.
func (d *Doc) Add(field string, err error) {
	if err == nil {
		return
	}
	var es Errors
	var e *Error
	switch {
	case errors.As(err, &es):
		d.errs = append(d.errs, es...)
	case errors.As(err, &e):
		d.errs = append(d.errs, e)
	default:
		d.Errorf(field, "%s", err.Error())
	}
}

// Line is the line field is written on, or that of its nearest written
// parent; 1 when none is written.
func (d *Doc) Line(field string) int {
	for p := field; p != ""; p = parent(p) {
		if l, ok := d.lines[p]; ok {
			return l
		}
	}
	return 1
}

// Has says whether field is written in the file.
func (d *Doc) Has(field string) bool {
	_, ok := d.lines[field]
	return ok
}

func parent(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// Err returns every mistake recorded, in line order, or nil.
func (d *Doc) Err() error {
	if len(d.errs) == 0 {
		return nil
	}
	es := append(Errors(nil), d.errs...)
	sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
	return es
}

// Report prints the mistakes err holds, one a line as file:line: field:
// message (editors jump to them), then a one-line count saying what
// happens next, prefixed with the program's name.
func Report(w io.Writer, prog string, err error, next string) {
	es := List(err)
	for _, e := range es {
		fmt.Fprintln(w, e.Error())
	}
	n := "1 mistake"
	if len(es) != 1 {
		n = fmt.Sprintf("%d mistakes", len(es))
	}
	fmt.Fprintf(w, "%s: %s in the configuration; %s\n", prog, n, next)
}
