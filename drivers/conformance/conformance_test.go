package conformance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kordon/kordon/drivers"
	"github.com/kordon/kordon/drivers/all"
	"github.com/kordon/kordon/edge"
	"github.com/kordon/kordon/hub"
	"github.com/kordon/kordon/i18n"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/family"
)

var update = flag.Bool("update", false, "rewrite README.md's generated family list")

// root is the repository, from this package's folder.
const root = "../.."

func families(t *testing.T) []family.Family {
	t.Helper()
	fams, err := drivers.Families()
	if err != nil {
		t.Fatalf("family manifests:\n%v", err)
	}
	if len(fams) < 10 {
		t.Fatalf("%d families found; the embed patterns of drivers/schemas.go no longer match", len(fams))
	}
	return fams
}

// TestEveryFolderIsAFamily: every folder of drivers/ with driver code has
// a family.yaml, every registered driver belongs to exactly one family of
// the same kind, and every driver a manifest names is registered.
func TestEveryFolderIsAFamily(t *testing.T) {
	fams := families(t)
	byName := map[string]family.Family{}
	owner := map[string]family.Family{}
	for _, f := range fams {
		byName[f.Name] = f
		for _, d := range f.Drivers {
			owner[d] = f
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(root, "drivers", "*", "*.go"))
	seen := map[string]bool{}
	for _, g := range dirs {
		dir := filepath.Base(filepath.Dir(g))
		// all registers the drivers, conformance is this test, drivertest
		// is the kit driver tests run on: none is a family.
		if seen[dir] || dir == "all" || dir == "conformance" || dir == "drivertest" {
			continue
		}
		seen[dir] = true
		if _, ok := byName[dir]; !ok {
			t.Errorf("drivers/%s has driver code but no %s (docs/adding-a-family.md)", dir, family.ManifestFile)
		}
	}
	registered := map[string]device.Driver{}
	for _, d := range all.Drivers() {
		registered[d.Name] = d
		f, ok := owner[d.Name]
		if !ok {
			t.Errorf("driver %q (drivers/all) is in no family's %s drivers: list", d.Name, family.ManifestFile)
			continue
		}
		if d.Kind != f.Kind {
			t.Errorf("driver %q: Kind %q, but drivers/%s/%s says kind %q", d.Name, d.Kind, f.Name, family.ManifestFile, f.Kind)
		}
	}
	for _, f := range fams {
		for _, d := range f.Drivers {
			if _, ok := registered[d]; !ok {
				t.Errorf("drivers/%s/%s names driver %q, which drivers/all does not register", f.Name, family.ManifestFile, d)
			}
		}
	}
}

// TestSchemaIsTheKind: the schema file is named for the kind (Load finds
// it by that name) and its $id ends in the kind.
func TestSchemaIsTheKind(t *testing.T) {
	for _, f := range families(t) {
		var s struct {
			ID string `json:"$id"`
		}
		if err := json.Unmarshal(f.Schema, &s); err != nil {
			t.Errorf("drivers/%s/%s: %v", f.Name, family.SchemaFile(f.Kind), err)
			continue
		}
		if !strings.HasSuffix(s.ID, "/"+f.Kind+".json") {
			t.Errorf("drivers/%s/%s: $id %q does not end in /%s.json", f.Name, family.SchemaFile(f.Kind), s.ID, f.Kind)
		}
		others, _ := filepath.Glob(filepath.Join(root, "drivers", f.Name, "*.schema.json"))
		for _, o := range others {
			if filepath.Base(o) != family.SchemaFile(f.Kind) {
				t.Errorf("%s: a schema not named for the family's kind %q", strings.TrimPrefix(o, root+"/"), f.Kind)
			}
		}
	}
}

// TestGoldensMatchTheFamily: every trace under the family's folder has a
// golden file (or is listed in unreplayed: with where it is replayed), no
// golden file is left without its trace (a renamed trace would otherwise
// skip its assertion silently), every trace names one of the family's
// drivers, and every golden reading carries the family's kind — the kind
// its payload's Kind() returned, since the family's golden runner
// (hwtest/goldentest) checks the replayed readings against these files — and validates against its schema.
func TestGoldensMatchTheFamily(t *testing.T) {
	for _, f := range families(t) {
		t.Run(f.Name, func(t *testing.T) {
			schema := compileSchema(t, f)
			var testdata []string
			filepath.WalkDir(filepath.Join(root, "drivers", f.Name), func(p string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() && d.Name() == "testdata" {
					testdata = append(testdata, p)
					return filepath.SkipDir
				}
				return err
			})
			unreplayed := map[string]bool{}
			for name := range f.Unreplayed {
				unreplayed[name] = false
			}
			for _, dir := range testdata {
				traces, _ := filepath.Glob(filepath.Join(dir, "traces", "*.jsonl"))
				goldens, _ := filepath.Glob(filepath.Join(dir, "golden", "*.jsonl"))
				for _, tr := range traces {
					name := strings.TrimSuffix(filepath.Base(tr), ".jsonl")
					checkTraceDriver(t, f, tr)
					g := filepath.Join(dir, "golden", name+".jsonl")
					if _, err := os.Stat(g); err != nil {
						if _, ok := unreplayed[name]; ok {
							unreplayed[name] = true
							continue
						}
						t.Errorf("%s has no golden file %s (write it with go test ./%s -run GoldenTraces -update, review it; or list it under unreplayed: in %s)", rel(tr), rel(g), rel(filepath.Dir(dir)), family.ManifestFile)
						continue
					}
					checkGolden(t, f, schema, g)
				}
				for _, g := range goldens {
					tr := filepath.Join(dir, "traces", filepath.Base(g))
					if _, err := os.Stat(tr); err != nil {
						t.Errorf("%s has no trace %s: renamed or removed? its readings are checked by nobody", rel(g), rel(tr))
					}
				}
			}
			goldens, _ := filepath.Glob(filepath.Join(root, "drivers", f.Name, "*", "golden", "*.jsonl"))
			deeper, _ := filepath.Glob(filepath.Join(root, "drivers", f.Name, "*", "*", "golden", "*.jsonl"))
			if n := len(goldens) + len(deeper); n == 0 && f.Untraced == "" {
				t.Errorf("drivers/%s has no trace with golden readings, so the kind its payloads carry is checked by nothing (add one, or say why under untraced: in %s)", f.Name, family.ManifestFile)
			} else if n > 0 && f.Untraced != "" {
				t.Errorf("drivers/%s/%s: untraced: but it has traces with goldens", f.Name, family.ManifestFile)
			}
			for name, found := range unreplayed {
				if !found {
					t.Errorf("drivers/%s/%s: unreplayed: %q is no trace without a golden file", f.Name, family.ManifestFile, name)
				}
			}
		})
	}
}

func rel(p string) string { return strings.TrimPrefix(p, root+"/") }

func compileSchema(t *testing.T, f family.Family) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(f.Schema))
	if err != nil {
		t.Fatalf("drivers/%s/%s: %v", f.Name, family.SchemaFile(f.Kind), err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	url := "mem:///" + family.SchemaFile(f.Kind)
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatalf("drivers/%s/%s: %v", f.Name, family.SchemaFile(f.Kind), err)
	}
	return s
}

func checkTraceDriver(t *testing.T, f family.Family, tr string) {
	t.Helper()
	fh, err := os.Open(tr)
	if err != nil {
		t.Error(err)
		return
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	if !sc.Scan() {
		t.Errorf("%s: empty trace", rel(tr))
		return
	}
	var h struct {
		Driver string `json:"driver"`
	}
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil || !slices.Contains(f.Drivers, h.Driver) {
		t.Errorf("%s: header names driver %q, not one of the family's %v", rel(tr), h.Driver, f.Drivers)
	}
}

func checkGolden(t *testing.T, f family.Family, s *jsonschema.Schema, g string) {
	t.Helper()
	b, err := os.ReadFile(g)
	if err != nil {
		t.Error(err)
		return
	}
	for i, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r struct {
			Kind    string          `json:"kind"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			t.Errorf("%s:%d: %v", rel(g), i+1, err)
			continue
		}
		if r.Kind != f.Kind {
			t.Errorf("%s:%d: kind %q, the family's is %q", rel(g), i+1, r.Kind, f.Kind)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.Payload))
		if err == nil {
			err = s.Validate(inst)
		}
		if err != nil {
			t.Errorf("%s:%d: payload does not validate against %s: %v", rel(g), i+1, family.SchemaFile(f.Kind), err)
		}
	}
}

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestREADMEConfigExamplesParse: every yaml example with a devices: list
// in a family's READMEs (its folder's and its sub-packages') is a config
// edged accepts, and each family shows at least one.
func TestREADMEConfigExamplesParse(t *testing.T) {
	for _, f := range families(t) {
		readmes, _ := filepath.Glob(filepath.Join(root, "drivers", f.Name, "README.md"))
		sub, _ := filepath.Glob(filepath.Join(root, "drivers", f.Name, "*", "README.md"))
		n := 0
		for _, readme := range append(readmes, sub...) {
			b, err := os.ReadFile(readme)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range yamlBlock.FindAllSubmatchIndex(b, -1) {
				block := b[m[2]:m[3]]
				if !bytes.Contains(block, []byte("devices:")) {
					continue
				}
				n++
				line := bytes.Count(b[:m[2]], []byte("\n")) + 1
				p := filepath.Join(t.TempDir(), "example.yaml")
				if err := os.WriteFile(p, block, 0o600); err != nil {
					t.Fatal(err)
				}
				if _, err := edge.LoadDevices(p, all.Drivers()); err != nil {
					t.Errorf("%s:%d: the config example does not parse:\n%v", rel(readme), line, strings.ReplaceAll(err.Error(), p, "example"))
				}
			}
		}
		if n == 0 {
			t.Errorf("drivers/%s/README.md has no config example (a ```yaml block with devices:)", f.Name)
		}
	}
}

// TestRulesCompile: each family's rules compile on their own, and all of
// them together, as the hub runs them (one id in two families is refused);
// each rule's when names the family's own kind (kind == "..."), so one
// family's rule never fires on another's readings and the hub skips it
// for other kinds without evaluating it.
func TestRulesCompile(t *testing.T) {
	n := 0
	for _, f := range families(t) {
		if f.Rules == nil {
			continue
		}
		name := "drivers/" + f.Name + "/" + family.RulesFile
		rules, err := hub.CheckRules(name, f.Rules)
		if err != nil {
			t.Error(err)
		}
		for _, r := range rules {
			if r.Kind != f.Kind {
				t.Errorf("%s: rule %q: when must require kind == %q (it requires %q)", name, r.ID, f.Kind, r.Kind)
			}
		}
		n += len(rules)
	}
	ids, err := hub.DefaultRuleIDs()
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != n || n == 0 {
		t.Errorf("the hub runs %d default rules, the families have %d", len(ids), n)
	}
}

// TestWordsInEveryLanguage: every word a family uses exists in every
// complete language (en, ru, kk), in its own words/ files: its kind's name,
// each rule's summary, each command's button, each generic booth field,
// and the same keys in every language.
func TestWordsInEveryLanguage(t *testing.T) {
	if err := i18n.Err(); err != nil {
		t.Fatal(err)
	}
	for _, f := range families(t) {
		need := []string{"kind." + f.Kind}
		if f.Rules != nil {
			rules, _ := hub.CheckRules(f.Name, f.Rules)
			for _, r := range rules {
				need = append(need, "rule."+r.ID+".summary")
			}
		}
		for _, c := range f.Commands {
			need = append(need, family.CommandKey(c.Name))
		}
		for _, fl := range f.Booth.Fields {
			need = append(need, "field."+fl)
		}
		en := f.Words[i18n.Fallback]
		for k := range en {
			need = append(need, k)
		}
		sort.Strings(need)
		need = slices.Compact(need)
		for _, lang := range i18n.Complete() {
			w := f.Words[lang]
			for _, k := range need {
				if w[k] == "" {
					t.Errorf("drivers/%s/words/%s.json lacks %q", f.Name, lang, k)
				}
			}
			for k := range w {
				if _, ok := en[k]; !ok {
					t.Errorf("drivers/%s/words/%s.json has %q, which its en.json lacks", f.Name, lang, k)
				}
			}
		}
	}
}

var registers = regexp.MustCompile(`views(?:\.([a-z_][a-z0-9_]*)|\["([a-z_][a-z0-9_]*)"\]) = \{`)

// TestBoothViewExists: a family with a view of its own has booth.js that
// registers a view for its kind (the booth's browser tests show it); a
// family on the generic view names fields its schema has. A dashboard view
// (dash.js, optional) registers its kind too.
func TestBoothViewExists(t *testing.T) {
	for _, f := range families(t) {
		if f.Dash != nil {
			var kinds []string
			for _, m := range registers.FindAllStringSubmatch(string(f.Dash), -1) {
				kinds = append(kinds, m[1]+m[2])
			}
			if !slices.Contains(kinds, f.Kind) {
				t.Errorf("drivers/%s/%s registers views %v, not views.%s", f.Name, family.DashFile, kinds, f.Kind)
			}
		}
		if f.Booth.Script {
			var kinds []string
			for _, m := range registers.FindAllStringSubmatch(string(f.Script), -1) {
				kinds = append(kinds, m[1]+m[2])
			}
			if !slices.Contains(kinds, f.Kind) {
				t.Errorf("drivers/%s/%s registers views %v, not views.%s", f.Name, family.BoothFile, kinds, f.Kind)
			}
			continue
		}
		var s struct {
			Properties map[string]json.RawMessage `json:"properties"`
		}
		json.Unmarshal(f.Schema, &s)
		for _, fl := range f.Booth.Fields {
			if _, ok := s.Properties[fl]; !ok {
				t.Errorf("drivers/%s/%s: booth field %q is not a property of %s", f.Name, family.ManifestFile, fl, family.SchemaFile(f.Kind))
			}
		}
	}
}

const (
	listStart = "<!-- families: generated by `go test ./drivers/conformance -update` from each drivers/<family>/family.yaml; do not edit -->"
	listEnd   = "<!-- end of families -->"
)

// familyList is README.md's list of families.
func familyList(fams []family.Family) string {
	var b strings.Builder
	b.WriteString(listStart + "\n\n| family | kind | drivers | what |\n|---|---|---|---|\n")
	for _, f := range fams {
		ds := make([]string, len(f.Drivers))
		for i, d := range f.Drivers {
			ds[i] = "`" + d + "`"
		}
		fmt.Fprintf(&b, "| [%s](drivers/%s/README.md) | `%s` | %s | %s |\n", f.Name, f.Name, f.Kind, strings.Join(ds, ", "), strings.ReplaceAll(f.Doc, "|", `\|`))
	}
	b.WriteString("\n" + listEnd)
	return b.String()
}

// TestREADMEListsEveryFamily: README.md's family list is the one the
// manifests give (go test ./drivers/conformance -update rewrites it).
func TestREADMEListsEveryFamily(t *testing.T) {
	p := filepath.Join(root, "README.md")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, listStart), strings.Index(s, listEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md has no generated family list (%q … %q)", listStart, listEnd)
	}
	want := familyList(families(t))
	got := s[i : j+len(listEnd)]
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(p, []byte(s[:i]+want+s[j+len(listEnd):]), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Log("README.md: family list rewritten")
		return
	}
	t.Errorf("README.md's family list is not the manifests' (go test ./drivers/conformance -update):\n%s", want)
}
