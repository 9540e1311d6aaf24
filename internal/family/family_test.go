package family

import (
	"strings"
	"testing"
	"testing/fstest"
)

func folder(name, manifest string) fstest.MapFS {
	return fstest.MapFS{
		name + "/family.yaml":       {Data: []byte(manifest)},
		name + "/w.schema.json":     {Data: []byte(`{"$id":"x/w.json"}`)},
		name + "/README.md":         {Data: []byte("# w\n")},
		name + "/booth.js":          {Data: []byte("views.w = {};")},
		name + "/words/en.json":     {Data: []byte(`{"kind.w":"W"}`)},
		name + "/rules.yaml":        {Data: []byte("rules: []\n")},
		name + "/testdata/x.jsonl":  {Data: []byte("{}")},
		name + "/words/README.txt0": {Data: nil},
	}
}

func TestLoadReadsTheFolder(t *testing.T) {
	fsys := folder("wb", "kind: w\ndrivers: [wb]\nbooth: {script: true}\ncommands:\n  - {name: w-zero, action: activate}\n")
	delete(fsys, "wb/words/README.txt0")
	f, err := Load(fsys, "wb")
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "wb" || f.Kind != "w" || string(f.Script) != "views.w = {};" || f.Words["en"]["kind.w"] != "W" || f.Rules == nil || len(f.Commands) != 1 {
		t.Errorf("loaded %+v", f)
	}
	if CommandKey("w-zero") != "cmd.w_zero" {
		t.Errorf("CommandKey = %q", CommandKey("w-zero"))
	}
}

// TestLoadNamesEveryMistake: each mistake names its file, and for
// family.yaml its line and field; all of them are reported at once.
func TestLoadNamesEveryMistake(t *testing.T) {
	cases := []struct{ name, manifest, want string }{
		{"unknown field", "kind: w\ndrivers: [wb]\nbooth: {script: true}\ncolour: red\n", "drivers/wb/family.yaml:4: colour: unknown field"},
		{"bad kind", "kind: W-1\ndrivers: [wb]\nbooth: {script: true}\n", `drivers/wb/family.yaml:1: kind: "W-1": lower-case letters`},
		{"no drivers", "kind: w\nbooth: {script: true}\n", "drivers: missing"},
		{"no view", "kind: w\ndrivers: [wb]\n", "booth: missing"},
		{"both views", "kind: w\ndrivers: [wb]\nbooth: {script: true, fields: [a]}\n", "booth: script and fields exclude each other"},
		{"bad action", "kind: w\ndrivers: [wb]\nbooth: {script: true}\ncommands:\n  - {name: go, action: explode}\n", "drivers/wb/family.yaml:5: commands[0].action"},
		{"watchlist half", "kind: w\ndrivers: [wb]\nbooth: {script: true}\nwatchlist: {rule: w-watch}\n", "watchlist.number: missing"},
		{"schema named otherwise", "kind: v\ndrivers: [wb]\nbooth: {script: true}\n", "drivers/wb/v.schema.json"},
		{"words not per language", "kind: w\ndrivers: [wb]\nbooth: {script: true}\n", "drivers/wb/words/README.txt0: not a <lang>.json file"},
	}
	for _, c := range cases {
		_, err := Load(folder("wb", c.manifest), "wb")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// TestLoadAllRefusesSharedNames: two families cannot have one kind, one
// driver or one command, and a word two families share must mean the same.
func TestLoadAllRefusesSharedNames(t *testing.T) {
	fsys := fstest.MapFS{}
	for k, v := range folder("a", "kind: w\ndrivers: [d]\nbooth: {script: true}\n") {
		fsys[k] = v
	}
	for k, v := range folder("b", "kind: w\ndrivers: [d]\nbooth: {script: true}\n") {
		fsys[k] = v
	}
	delete(fsys, "a/words/README.txt0")
	delete(fsys, "b/words/README.txt0")
	fsys["b/words/en.json"] = &fstest.MapFile{Data: []byte(`{"kind.w":"Other"}`)}
	_, err := LoadAll(fsys)
	for _, want := range []string{`drivers/b/family.yaml: kind "w" is also family a's`, `driver "d" is also family a's`, `drivers/b/words/en.json: "kind.w" is "Other", but "W" in family a`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want one containing %q", err, want)
		}
	}
}
