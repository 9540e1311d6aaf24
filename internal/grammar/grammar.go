// Package grammar parses text lines from devices whose vendors keep their
// protocol private (X-ray operator consoles, trace detectors): the line
// format is configuration — records with regular expressions whose named
// groups are the fields, plus which field holds the device's timestamp and in
// what layout. Profiles are ready-made grammars an installer names instead
// of writing patterns; any profile can be overridden field by field.
package grammar

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Spec is a grammar as written in a box config (the `grammar:` option).
type Spec struct {
	// Profile names a built-in grammar to start from (see Profiles). Records
	// given here replace the profile's; time settings given here override.
	Profile string `yaml:"profile"`
	// Records are tried in order; the first whose pattern matches the whole
	// line wins.
	Records []Record `yaml:"records"`
	// TimeField names the field holding the device's timestamp (default "time").
	TimeField string `yaml:"time_field"`
	// TimeFormat is a Go time layout ("2006-01-02 15:04:05"), or one of
	// rfc3339, unix, unix_ms. Default rfc3339.
	TimeFormat string `yaml:"time_format"`
	// TimeZone is the IANA zone of timestamps without an offset (default UTC).
	TimeZone string `yaml:"time_zone"`
}

// Record is one kind of line.
type Record struct {
	Name string `yaml:"name"`
	// Pattern is a Go regular expression (RE2) matched against the whole
	// line; its named groups (?P<name>...) are the record's fields.
	Pattern string `yaml:"pattern"`
	// Alarm, when set, says when this record reports an alarm.
	Alarm *Cond `yaml:"alarm"`
}

// Cond is "field has one of these values" (case-insensitive, trimmed).
// With no field, the record is an alarm whenever it matches.
type Cond struct {
	Field  string   `yaml:"field"`
	Values []string `yaml:"values"`
}

// Grammar is a compiled Spec.
type Grammar struct {
	records    []record
	timeField  string
	timeFormat string
	loc        *time.Location
}

type record struct {
	Record
	re *regexp.Regexp
}

// Match is one parsed line.
type Match struct {
	Record string
	Fields map[string]string // named groups that matched (possibly empty strings)
	Time   time.Time         // the device's timestamp; zero when the record has none
	// TimeErr says why a present timestamp could not be read; the rest of
	// the match is still good.
	TimeErr error
	Alarm   bool
}

// ErrNoMatch is returned for a line no record matches.
var ErrNoMatch = errors.New("grammar: line matches no record")

// MaxPattern bounds a pattern's length: patterns come from config files.
const MaxPattern = 2048

// Compile resolves the profile and compiles the patterns. Errors name the
// record and what is wrong.
func Compile(s Spec) (*Grammar, error) {
	if s.Profile != "" {
		p, ok := profiles()[s.Profile]
		if !ok {
			return nil, fmt.Errorf("profile %q unknown (known: %s)", s.Profile, strings.Join(Profiles(), ", "))
		}
		if len(s.Records) == 0 {
			s.Records = p.Records
		}
		if s.TimeField == "" {
			s.TimeField = p.TimeField
		}
		if s.TimeFormat == "" {
			s.TimeFormat = p.TimeFormat
		}
		if s.TimeZone == "" {
			s.TimeZone = p.TimeZone
		}
	}
	if len(s.Records) == 0 {
		return nil, errors.New("records: none given and no profile named")
	}
	g := &Grammar{timeField: s.TimeField, timeFormat: s.TimeFormat, loc: time.UTC}
	if g.timeField == "" {
		g.timeField = "time"
	}
	if g.timeFormat == "" {
		g.timeFormat = "rfc3339"
	}
	if s.TimeZone != "" {
		loc, err := time.LoadLocation(s.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("time_zone %q: %v", s.TimeZone, err)
		}
		g.loc = loc
	}
	names := map[string]bool{}
	for i, r := range s.Records {
		at := fmt.Sprintf("records[%d]", i)
		if r.Name == "" {
			return nil, fmt.Errorf("%s: name missing", at)
		}
		at += " (" + r.Name + ")"
		if names[r.Name] {
			return nil, fmt.Errorf("%s: name repeated", at)
		}
		names[r.Name] = true
		if r.Pattern == "" || len(r.Pattern) > MaxPattern {
			return nil, fmt.Errorf("%s: pattern missing or longer than %d", at, MaxPattern)
		}
		re, err := regexp.Compile(`^(?:` + r.Pattern + `)$`)
		if err != nil {
			return nil, fmt.Errorf("%s: pattern: %v", at, err)
		}
		if r.Alarm != nil && r.Alarm.Field != "" && !slices.Contains(re.SubexpNames(), r.Alarm.Field) {
			return nil, fmt.Errorf("%s: alarm.field %q is not a named group of the pattern", at, r.Alarm.Field)
		}
		g.records = append(g.records, record{Record: r, re: re})
	}
	return g, nil
}

// Parse matches one line (without its terminator).
func (g *Grammar) Parse(line string) (Match, error) {
	for _, r := range g.records {
		sub := r.re.FindStringSubmatch(line)
		if sub == nil {
			continue
		}
		m := Match{Record: r.Name, Fields: map[string]string{}}
		for i, name := range r.re.SubexpNames() {
			if name != "" && i < len(sub) {
				m.Fields[name] = sub[i]
			}
		}
		if ts := strings.TrimSpace(m.Fields[g.timeField]); ts != "" {
			m.Time, m.TimeErr = g.parseTime(ts)
		}
		m.Alarm = r.Alarm.holds(m.Fields)
		return m, nil
	}
	return Match{}, ErrNoMatch
}

func (c *Cond) holds(f map[string]string) bool {
	if c == nil {
		return false
	}
	if c.Field == "" {
		return true
	}
	v := strings.TrimSpace(f[c.Field])
	for _, want := range c.Values {
		if strings.EqualFold(v, want) {
			return true
		}
	}
	return false
}

func (g *Grammar) parseTime(s string) (time.Time, error) {
	switch g.timeFormat {
	case "rfc3339":
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			// time.Parse quotes the whole value, twice: a reason must stay bounded.
			return time.Time{}, fmt.Errorf("timestamp %q: want RFC 3339", Clip(s, MaxQuoted))
		}
		return t, nil
	case "unix", "unix_ms":
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("timestamp %q: not an integer", Clip(s, MaxQuoted))
		}
		if g.timeFormat == "unix" {
			return time.Unix(n, 0).UTC(), nil
		}
		return time.UnixMilli(n).UTC(), nil
	}
	t, err := time.ParseInLocation(g.timeFormat, s, g.loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q: want layout %q", Clip(s, MaxQuoted), g.timeFormat)
	}
	return t.UTC(), nil
}

// Fields lists the field names a grammar can produce, for validation of the
// drivers' field mappings.
func (g *Grammar) Fields() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range g.records {
		for _, n := range r.re.SubexpNames() {
			if n != "" && !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out
}
