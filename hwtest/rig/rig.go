// Package rig runs a bench rig: recorded device traces replayed through
// pseudo-terminals into the real edged pipeline (edge.New, its drivers,
// outbox and MQTT publisher) and, when alerts are expected, into a real hub
// (hub.New: mochi broker, SQLite, CEL rules). What arrives is checked
// against golden readings and expected alerts, with tolerances, and reported
// as text and JUnit XML. docs/hwtest.md is the technician's guide.
package rig

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/hwtest/harness"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/hwtest/wirefault"
	"github.com/kordon/kordon/internal/device"
)

// Rig is a rig file.
type Rig struct {
	Name     string        `yaml:"rig"`
	Crossing string        `yaml:"crossing"` // default "bench"
	Box      string        `yaml:"box"`      // default "rig"
	Speed    float64       `yaml:"speed"`    // 0 as fast as ordering allows, 1 real time, N times faster
	Timeout  time.Duration `yaml:"timeout"`  // the whole run; default 5m
	// MaxGap shortens longer pauses in the traces to this (speed > 0 only).
	MaxGap time.Duration `yaml:"max_gap"`
	// ExpectTimeout bounds each wait for a host request a trace expects
	// (poll/response devices); default 10s.
	ExpectTimeout time.Duration `yaml:"expect_timeout"`
	Rules         string        `yaml:"rules"` // hub rules file; default: the hub's built-in rules
	Devices       []Device      `yaml:"devices"`
	// Alerts, when present (even empty: "alerts: []"), starts a hub and
	// checks that exactly these alerts are raised.
	Alerts *[]Alert `yaml:"alerts"`

	File string `yaml:"-"` // where the rig was read from
	dir  string
}

// Device is one replayed device.
type Device struct {
	ID        string            `yaml:"id"`
	Driver    string            `yaml:"driver"`    // default: the trace header's
	Trace     string            `yaml:"trace"`     // relative to the rig file
	Golden    string            `yaml:"golden"`    // relative to the rig file; empty: readings are not checked
	Options   yaml.Node         `yaml:"options"`   // default: the trace header's options
	Transport map[string]any    `yaml:"transport"` // extra transport settings (baud, parity...)
	Faults    []wirefault.Fault `yaml:"faults"`
	Tolerance ToleranceSpec     `yaml:"tolerance"`
	Expect    *Availability     `yaml:"expect"`

	line      int
	trace     *trace.Trace
	golden    []harness.Golden
	driverDef device.Driver
}

// ToleranceSpec is a device's tolerance as written in a rig file.
type ToleranceSpec struct {
	Timing time.Duration      `yaml:"timing"`
	Values map[string]float64 `yaml:"values"`
}

// Availability is what a device's availability must show over the run.
type Availability struct {
	// Unplugs is how many times the device must have gone away and come
	// back (replug after an unplug fault); nil does not check.
	Unplugs *int `yaml:"unplugs"`
}

// Alert is an expected alert.
type Alert struct {
	Rule     string `yaml:"rule"`
	Device   string `yaml:"device"`
	Severity string `yaml:"severity"` // optional
	Count    int    `yaml:"count"`    // default 1
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Load reads and checks a rig file: traces and golden files must exist and
// parse, drivers must be known and their options valid. Errors name the
// file and line.
func Load(path string, drivers []device.Driver) (*Rig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, b, drivers)
}

// Parse is Load on bytes already read; relative paths are taken from path's folder.
func Parse(path string, b []byte, drivers []device.Driver) (*Rig, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	var r Rig
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	r.File, r.dir = path, filepath.Dir(path)
	lines := deviceLines(&root)
	at := func(line int, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", path, line, fmt.Sprintf(format, args...))
	}
	if r.Name == "" {
		r.Name = filepath.Base(path)
	}
	if r.Crossing == "" {
		r.Crossing = "bench"
	}
	if r.Box == "" {
		r.Box = "rig"
	}
	if !idPattern.MatchString(r.Crossing) || !idPattern.MatchString(r.Box) {
		return nil, fmt.Errorf("%s: crossing and box must be lower-case letters, digits, - or _", path)
	}
	if r.Speed < 0 {
		return nil, fmt.Errorf("%s: speed %g: want 0 (as fast as possible) or more", path, r.Speed)
	}
	if r.Timeout <= 0 {
		r.Timeout = 5 * time.Minute
	}
	if r.ExpectTimeout <= 0 {
		r.ExpectTimeout = 10 * time.Second
	}
	if r.Rules != "" {
		r.Rules = r.resolve(r.Rules)
	}
	if len(r.Devices) == 0 {
		return nil, fmt.Errorf("%s: no devices", path)
	}
	byName := map[string]device.Driver{}
	for _, d := range drivers {
		byName[d.Name] = d
		for _, a := range d.Aliases {
			byName[a] = d
		}
	}
	seen := map[string]bool{}
	for i := range r.Devices {
		d := &r.Devices[i]
		if i < len(lines) {
			d.line = lines[i]
		}
		if !idPattern.MatchString(d.ID) {
			return nil, at(d.line, "devices[%d].id %q: lower-case letters, digits, - or _", i, d.ID)
		}
		if seen[d.ID] {
			return nil, at(d.line, "device %q appears twice", d.ID)
		}
		seen[d.ID] = true
		if d.Trace == "" {
			return nil, at(d.line, "device %s: trace missing", d.ID)
		}
		tr, err := trace.ReadFile(r.resolve(d.Trace))
		if err != nil {
			return nil, at(d.line, "device %s: %v", d.ID, err)
		}
		if d.Driver == "" {
			d.Driver = tr.Header.Driver
		}
		drv, ok := byName[d.Driver]
		if !ok {
			return nil, at(d.line, "device %s: unknown driver %q (known: %s)", d.ID, d.Driver, names(drivers))
		}
		d.driverDef = drv
		if tr.Header.Transport != "" && tr.Header.Transport != "serial" && tr.Header.Transport != "usb" {
			return nil, at(d.line, "device %s: trace transport %q: rigs replay serial and usb traces", d.ID, tr.Header.Transport)
		}
		if d.Options.Kind == 0 {
			n, err := tr.Header.OptionsNode()
			if err != nil {
				return nil, at(d.line, "device %s: trace header options: %v", d.ID, err)
			}
			if n != nil {
				d.Options = *n
			}
		}
		// Options only: the rig wires the ports when it runs.
		if _, err := drv.New(drivertest.NewConfig(device.Options{File: path, Node: &d.Options}, drivertest.ID(d.ID))); err != nil {
			return nil, at(d.line, "device %s: %v", d.ID, err)
		}
		if d.trace, err = wirefault.Apply(tr, d.Faults); err != nil {
			return nil, at(d.line, "device %s: %v", d.ID, err)
		}
		if d.Golden != "" {
			if d.golden, err = harness.ReadGolden(r.resolve(d.Golden)); err != nil {
				return nil, at(d.line, "device %s: golden: %v", d.ID, err)
			}
		}
	}
	if r.Alerts != nil {
		for i := range *r.Alerts {
			a := &(*r.Alerts)[i]
			if a.Rule == "" {
				return nil, fmt.Errorf("%s: alerts[%d]: rule missing", path, i)
			}
			if a.Device != "" && !seen[a.Device] {
				return nil, fmt.Errorf("%s: alerts[%d]: device %q is not a rig device", path, i, a.Device)
			}
			if a.Count == 0 {
				a.Count = 1
			}
		}
	}
	return &r, nil
}

func (r *Rig) resolve(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(r.dir, p)
}

func names(ds []device.Driver) string {
	s := ""
	for i, d := range ds {
		if i > 0 {
			s += ", "
		}
		s += d.Name
	}
	return s
}

func deviceLines(root *yaml.Node) []int {
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	m := root.Content[0]
	var out []int
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "devices" {
			for _, d := range m.Content[i+1].Content {
				out = append(out, d.Line)
			}
		}
	}
	return out
}
