package config

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

type sample struct {
	Name    string            `yaml:"name"`
	Timeout time.Duration     `yaml:"timeout"`
	Port    uint16            `yaml:"port"`
	Ratio   float64           `yaml:"ratio"`
	On      bool              `yaml:"on"`
	Tags    []string          `yaml:"tags"`
	Labels  map[string]string `yaml:"labels"`
	Inner   *struct {
		Address string `yaml:"address"`
	} `yaml:"inner"`
	Raw      yaml.Node `yaml:"raw"`
	Embedded `yaml:",inline"`
}

type Embedded struct {
	Level string `yaml:"level"`
}

func TestParseReadsEveryKind(t *testing.T) {
	var s sample
	d := Parse("s.yaml", []byte("name: x\ntimeout: 1m\nport: 8080\nratio: 0.5\non: true\ntags: [a, b]\nlabels: {k: v}\ninner: {address: y}\nraw: {any: [thing]}\nlevel: debug\n"), &s)
	if err := d.Err(); err != nil {
		t.Fatal(err)
	}
	if s.Name != "x" || s.Timeout != time.Minute || s.Port != 8080 || s.Ratio != 0.5 || !s.On || len(s.Tags) != 2 ||
		s.Labels["k"] != "v" || s.Inner == nil || s.Inner.Address != "y" || s.Raw.Kind != yaml.MappingNode || s.Level != "debug" {
		t.Errorf("%+v", s)
	}
}

func TestMessages(t *testing.T) {
	for src, want := range map[string]string{
		"nme: x":             "s.yaml:1: nme: unknown field (did you mean name?)",
		"timeout: 20":        "s.yaml:1: timeout: 20 is not a duration (write 20s)",
		"port: 70000":        "s.yaml:1: port: 70000 is out of range (0 to 65535)",
		"port: -1":           "s.yaml:1: port: -1 is out of range (0 to 65535)",
		"port: 1.5":          "s.yaml:1: port: 1.5 is not a whole number",
		"on: maybe":          `s.yaml:1: on: "maybe" is not true or false`,
		"tags: a":            `s.yaml:1: tags: want a list (lines starting with -), got "a"`,
		"inner: [1]":         "s.yaml:1: inner: want a mapping (key: value lines), got a list",
		"name: [x]":          "s.yaml:1: name: want a single value, got a list",
		"inner:\n  adres: y": "s.yaml:2: inner.adres: unknown field (did you mean address?)",
		"zzz: 1":             "s.yaml:1: zzz: unknown field (known: inner, labels, level, name, on, port, ratio, raw, tags, timeout)",
		"name: a\nname: b":   "s.yaml:2: name: written twice (first on line 1)",
		"":                   "s.yaml:1: empty file",
		"- 1":                "s.yaml:1: want a mapping of settings (key: value lines), got a list",
		"name: x\nport: ]":   "s.yaml:2: YAML syntax: did not find expected node content",
		"name: x\n\tport: 1": "s.yaml:2: YAML syntax: found a tab character that violates indentation",
	} {
		var s sample
		err := Parse("s.yaml", []byte(src), &s).Err()
		if err == nil || err.Error() != want {
			t.Errorf("%q:\n got %v\nwant %s", src, err, want)
		}
	}
}

func TestChecks(t *testing.T) {
	var s sample
	d := Parse("s.yaml", []byte("name: a/b\nport: 0\ntimeout: 1h\ninner: {address: 'http://x:1'}\nlevel: inf\n"), &s)
	d.ID("name", s.Name)
	d.Range("port", int64(s.Port), 1, 100)
	d.DurationRange("timeout", s.Timeout, time.Second, time.Minute)
	d.URL("inner.address", s.Inner.Address, []string{"tcp"}, "tcp://h:1883")
	d.OneOf("level", s.Level, "debug", "info")
	d.Required("ratio", "", "a fraction")
	got := d.Err().Error()
	for _, w := range []string{
		`s.yaml:1: name: "a/b" is not a valid id`,
		"s.yaml:1: ratio: missing: a fraction",
		"s.yaml:2: port: 0 is out of range (1 to 100)",
		"s.yaml:3: timeout: 1h0m0s is out of range (1s to 1m0s)",
		`s.yaml:4: inner.address: "http://x:1": scheme http is not allowed here (use tcp, e.g. tcp://h:1883)`,
		`s.yaml:5: level: "inf" is not one of debug, info (did you mean info?)`,
	} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in\n%s", w, got)
		}
	}
}

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"adress", "address", 1}, {"", "abc", 3}, {"teh", "the", 1}, {"kitten", "sitting", 3}, {"same", "same", 0}} {
		if got := distance(c.a, c.b); got != c.d {
			t.Errorf("distance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("name: x\ntimeout: 1m\nport: 8080\ntags: [a]\ninner: {address: y}\n"))
	f.Add([]byte("a: &x [1, *x]\n"))
	f.Add([]byte("labels: {<<: {k: v}}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s sample
		d := Parse("f.yaml", b, &s)
		for _, e := range List(d.Err()) {
			if e.File != "f.yaml" || e.Line < 0 {
				t.Fatalf("bad error %+v", e)
			}
		}
	})
}
