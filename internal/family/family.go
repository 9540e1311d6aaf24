// Package family reads a device family's manifest: what a family folder
// (drivers/<family>/) declares next to its code so that the hub, the booth
// screen, the translations and the docs pick the family up without a line
// of their own. It is data only: it imports no driver, edge or hub code, so
// hubd reads every family without linking serial, USB or GPIO libraries.
//
// A family folder holds, by fixed names:
//
//	family.yaml          kind, drivers, booth view, commands, watchlist (Manifest)
//	<kind>.schema.json   the payload's JSON Schema ($id .../<kind>.schema.json)
//	rules.yaml           default hub rules (optional: a family may raise no alert)
//	words/<lang>.json    every word its screens and rules need, per language
//	booth.js             its booth view, when family.yaml says booth: {script: true}
//	dash.js              its dashboard view (optional: line, value, why)
//	README.md            what it decodes, its options, its traces
package family

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/kordon/kordon/internal/config"
)

// Manifest is family.yaml.
type Manifest struct {
	// Kind is the payload kind: the one name the driver's Kind, its
	// payload's Kind(), the schema's file name and $id all carry.
	Kind string `yaml:"kind"`
	// Drivers are the driver names (box config driver:) of this family, as
	// registered in drivers/all.
	Drivers []string `yaml:"drivers"`
	// Doc is one line on what the family is, for the README's family list.
	Doc   string `yaml:"doc"`
	Booth Booth  `yaml:"booth"`
	// Commands the hub may send a box for a device of this family.
	Commands []Command `yaml:"commands"`
	// Watchlist, when set, matches this kind's readings against the hub's
	// watchlist (hub/watchlist) by two payload fields.
	Watchlist *Watchlist `yaml:"watchlist"`
	// Unreplayed names traces that have no golden readings, each with where
	// they are replayed instead; any other trace without a golden file
	// fails the conformance test.
	Unreplayed map[string]string `yaml:"unreplayed"`
	// Untraced, for a family with no trace at all, says why and which test
	// checks its readings' kind instead; any other family needs at least
	// one trace with golden readings.
	Untraced string `yaml:"untraced"`
}

// Booth is how the booth screen shows a reading of this kind.
type Booth struct {
	// Script: the family's own view, booth.js, registers itself with the
	// booth page (edge/booth/web/booth.js, KordonBoothViews).
	Script bool `yaml:"script"`
	// Fields, for the generic view: the payload fields shown, in order;
	// an alarm field that is true makes the card an alarm.
	Fields []string `yaml:"fields"`
}

// Command is a command name the hub's API accepts, and what the box does
// with it: ask the family's running actuator device to act.
type Command struct {
	Name   string `yaml:"name"`   // e.g. cctv-trigger; also cmd.<name with _> in words
	Action string `yaml:"action"` // activate | release
	Doc    string `yaml:"doc"`
}

// Watchlist is which payload fields the watchlist matches, and the rule id
// its alert carries.
type Watchlist struct {
	Rule   string `yaml:"rule"`
	Number string `yaml:"number"`
	Issuer string `yaml:"issuer"`
	// Subject names what was on the list in the alert's summary
	// ("Document"); the summary never carries the matched values.
	Subject string `yaml:"subject"`
}

// Family is one family folder, read.
type Family struct {
	Name string // the folder name under drivers/
	Manifest
	Schema []byte // <kind>.schema.json
	Rules  []byte // rules.yaml; nil when the family has none
	// Words are words/<lang>.json by language code.
	Words  map[string]map[string]string
	Script []byte // booth.js when Booth.Script
	Dash   []byte // dash.js; nil when the dashboard shows the family generically
	README []byte
}

// File names inside a family folder.
const (
	ManifestFile = "family.yaml"
	RulesFile    = "rules.yaml"
	WordsDir     = "words"
	BoothFile    = "booth.js"
	DashFile     = "dash.js"
	READMEFile   = "README.md"
)

// SchemaFile is the payload schema's file name for a kind.
func SchemaFile(kind string) string { return kind + ".schema.json" }

var (
	kindName    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	commandName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,63}$`)
	langCode    = regexp.MustCompile(`^[a-z]{2,3}$`)
)

// Actions an actuator understands (edge/trigger Request.Action).
var actions = []string{"activate", "release"}

// Load reads the family in folder dir of fsys. Every mistake is reported,
// each naming its file (and line and field for family.yaml).
func Load(fsys fs.FS, dir string) (Family, error) {
	f := Family{Name: path.Base(dir), Words: map[string]map[string]string{}}
	var errs []error
	file := func(name string) string { return path.Join("drivers", dir, name) }
	mb, err := fs.ReadFile(fsys, path.Join(dir, ManifestFile))
	if err != nil {
		return f, fmt.Errorf("%s: %v", file(ManifestFile), err)
	}
	d := config.Parse(file(ManifestFile), mb, &f.Manifest)
	if !d.Failed() {
		m := &f.Manifest
		if d.Required("kind", m.Kind, "the payload kind, e.g. weight") && !kindName.MatchString(m.Kind) {
			d.Errorf("kind", "%q: lower-case letters, digits and _", m.Kind)
		}
		if len(m.Drivers) == 0 {
			d.Errorf("drivers", "missing: the driver names of this family (drivers/all)")
		}
		if m.Booth.Script && len(m.Booth.Fields) > 0 {
			d.Errorf("booth", "script and fields exclude each other: the script shows what it shows")
		}
		if !m.Booth.Script && len(m.Booth.Fields) == 0 {
			d.Errorf("booth", "missing: script: true (booth.js) or fields: [...] for the generic view")
		}
		seen := map[string]bool{}
		for i, c := range m.Commands {
			at := fmt.Sprintf("commands[%d]", i)
			if !commandName.MatchString(c.Name) {
				d.Errorf(at+".name", "%q: lower-case letters, digits and -", c.Name)
			}
			if seen[c.Name] {
				d.Errorf(at+".name", "%q repeated", c.Name)
			}
			seen[c.Name] = true
			d.OneOf(at+".action", c.Action, actions...)
		}
		if w := m.Watchlist; w != nil {
			d.Required("watchlist.rule", w.Rule, "the alert's rule id, e.g. document-watchlist")
			d.Required("watchlist.number", w.Number, "the payload field holding the number")
			d.Required("watchlist.issuer", w.Issuer, "the payload field holding the issuing state")
			d.Required("watchlist.subject", w.Subject, "what was on the list, for the alert's summary")
		}
	}
	if err := d.Err(); err != nil {
		errs = append(errs, err)
	}
	read := func(name string, optional bool) []byte {
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil && !(optional && errors.Is(err, fs.ErrNotExist)) {
			errs = append(errs, fmt.Errorf("%s: %v", file(name), err))
		}
		return b
	}
	if f.Kind != "" {
		f.Schema = read(SchemaFile(f.Kind), false)
	}
	f.Rules = read(RulesFile, true)
	f.Dash = read(DashFile, true)
	f.README = read(READMEFile, false)
	if f.Booth.Script {
		f.Script = read(BoothFile, false)
	}
	entries, err := fs.ReadDir(fsys, path.Join(dir, WordsDir))
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %v (one <lang>.json per language)", file(WordsDir), err))
	}
	for _, e := range entries {
		code, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !langCode.MatchString(code) {
			errs = append(errs, fmt.Errorf("%s: not a <lang>.json file", file(path.Join(WordsDir, e.Name()))))
			continue
		}
		b := read(path.Join(WordsDir, e.Name()), false)
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", file(path.Join(WordsDir, e.Name())), err))
			continue
		}
		f.Words[code] = m
	}
	return f, errors.Join(errs...)
}

// LoadAll reads every family folder of fsys (each */family.yaml), sorted by
// name, and checks what families must not share: a kind, a driver name, a
// command, or one word with two meanings.
func LoadAll(fsys fs.FS) ([]Family, error) {
	manifests, err := fs.Glob(fsys, "*/"+ManifestFile)
	if err != nil {
		return nil, err
	}
	sort.Strings(manifests)
	var out []Family
	var errs []error
	for _, m := range manifests {
		f, err := Load(fsys, path.Dir(m))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, f)
	}
	errs = append(errs, disjoint(out)...)
	return out, errors.Join(errs...)
}

func disjoint(fs []Family) []error {
	var errs []error
	kinds, drivers, commands := map[string]string{}, map[string]string{}, map[string]string{}
	words := map[string]map[string]string{} // lang -> key -> family
	once := func(seen map[string]string, what, name, fam string) {
		if prev, dup := seen[name]; dup {
			errs = append(errs, fmt.Errorf("drivers/%s/%s: %s %q is also family %s's", fam, ManifestFile, what, name, prev))
			return
		}
		seen[name] = fam
	}
	for _, f := range fs {
		once(kinds, "kind", f.Kind, f.Name)
		for _, d := range f.Drivers {
			once(drivers, "driver", d, f.Name)
		}
		for _, c := range f.Commands {
			once(commands, "command", c.Name, f.Name)
		}
		for lang, m := range f.Words {
			if words[lang] == nil {
				words[lang] = map[string]string{}
			}
			for k := range m {
				if prev, dup := words[lang][k]; dup {
					other := wordsOf(fs, prev)[lang][k]
					if other != m[k] {
						errs = append(errs, fmt.Errorf("drivers/%s/words/%s.json: %q is %q, but %q in family %s", f.Name, lang, k, m[k], other, prev))
					}
					continue
				}
				words[lang][k] = f.Name
			}
		}
	}
	return errs
}

func wordsOf(fs []Family, name string) map[string]map[string]string {
	for _, f := range fs {
		if f.Name == name {
			return f.Words
		}
	}
	return nil
}

// Words merges every family's words by language. A key two families both
// use must mean the same (LoadAll checks it), so the order does not matter.
func Words(fs []Family) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, f := range fs {
		for lang, m := range f.Words {
			if out[lang] == nil {
				out[lang] = map[string]string{}
			}
			for k, v := range m {
				out[lang][k] = v
			}
		}
	}
	return out
}

// ByKind finds the family of a payload kind.
func ByKind(fs []Family, kind string) (Family, bool) {
	for _, f := range fs {
		if f.Kind == kind {
			return f, true
		}
	}
	return Family{}, false
}

// CommandKey is the word key of a command's button (cmd.cctv_trigger).
func CommandKey(name string) string { return "cmd." + strings.ReplaceAll(name, "-", "_") }
