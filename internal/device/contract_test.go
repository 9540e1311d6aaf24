package device

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/internal/transport"
)

func options(t *testing.T, src string) Options {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return Options{File: "box.yaml", Node: doc.Content[0]}
}

// TestErrorfNamesTheOptionsOwnLine: an option's mistake is reported at the
// option's line, not the options block's; a path reaches nested options.
func TestErrorfNamesTheOptionsOwnLine(t *testing.T) {
	o := options(t, "grammar:\n  profile: x\nsilence: -1s\nslaves:\n  - address: 1\n  - address: 0\n")
	for _, c := range []struct {
		field string
		line  int
	}{{"silence", 3}, {"grammar.profile", 2}, {"slaves[1].address", 6}, {"slaves[1]", 6}, {"missing", 1}, {"slaves[7].address", 5}} {
		err := o.Errorf(c.field, "bad")
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Line != c.line || ce.Field != c.field {
			t.Errorf("%s: %v, want line %d", c.field, err, c.line)
		}
	}
}

// TestBuildChecksPortAndClock: a device is built only with a clock and the
// opener of a port kind its driver is wired through.
func TestBuildChecksPortAndClock(t *testing.T) {
	drv := Driver{Name: "lines", Ports: []PortKind{Stream}, New: func(Config) (Device, error) { return nil, nil }}
	stream := func(context.Context) (transport.Port, error) { return nil, errors.New("none") }
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"ok", Config{Transport: transport.Config{Type: "serial"}, Clock: time.Now, Stream: stream}, ""},
		{"no clock", Config{Transport: transport.Config{Type: "serial"}, Stream: stream}, "no clock"},
		{"wrong kind", Config{Transport: transport.Config{Type: "gpio"}, Clock: time.Now}, "wired through stream"},
		{"no opener", Config{Transport: transport.Config{Type: "tcp"}, Clock: time.Now}, "no stream opener"},
		{"unknown type", Config{Transport: transport.Config{Type: "carrier-pigeon"}, Clock: time.Now}, "unknown transport type"},
	} {
		_, err := drv.Build(c.cfg)
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

func TestAccepts(t *testing.T) {
	d := Driver{Name: "document", Aliases: []string{"mrz"}}
	if !d.Accepts("document") || !d.Accepts("mrz") || d.Accepts("trace") {
		t.Error("Accepts: name and aliases only")
	}
}
