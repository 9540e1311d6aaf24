// Package accept is live acceptance on a real booth: it runs the box's own
// configuration through the real edged pipeline (so readings also reach the
// configured hub), prompts the installer step by step ("present the
// specimen passport to reader 1"), checks each expected reading against a
// deadline, records all device traffic as traces, and writes a
// commissioning report in Markdown or HTML.
package accept

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"
)

// Plan is an acceptance file.
type Plan struct {
	Name string `yaml:"acceptance"`
	// BoxConfig is the edged config of the booth (identity, hub, devices);
	// relative to the plan file. The -config flag overrides it.
	BoxConfig string `yaml:"box_config"`
	// UpWithin bounds the wait for every device to come up before the
	// first step (default 30s).
	UpWithin time.Duration `yaml:"up_within"`
	Steps    []Step        `yaml:"steps"`

	File string `yaml:"-"`
}

// Step is one prompt and the reading it must produce.
type Step struct {
	Prompt string        `yaml:"prompt"`
	Device string        `yaml:"device"`
	Within time.Duration `yaml:"within"` // deadline after the installer confirms; default 30s
	Expect Expect        `yaml:"expect"`
}

// Expect is what the reading must show; only the fields given are checked.
type Expect struct {
	Kind    string         `yaml:"kind"`
	Quality string         `yaml:"quality"` // ok | suspect | bad
	Payload map[string]any `yaml:"payload"` // a subset of the payload, nested as in the JSON
	// Tolerance maps JSON paths ("/payload/celsius") to the largest
	// absolute difference allowed for numbers there.
	Tolerance map[string]float64 `yaml:"tolerance"`
}

// LoadPlan reads an acceptance file strictly.
func LoadPlan(path string) (*Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var p Plan
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	p.File = path
	if p.Name == "" {
		p.Name = filepath.Base(path)
	}
	if p.BoxConfig != "" && !filepath.IsAbs(p.BoxConfig) {
		p.BoxConfig = filepath.Join(filepath.Dir(path), p.BoxConfig)
	}
	if p.UpWithin <= 0 {
		p.UpWithin = 30 * time.Second
	}
	if len(p.Steps) == 0 {
		return nil, fmt.Errorf("%s: no steps", path)
	}
	for i := range p.Steps {
		s := &p.Steps[i]
		if s.Prompt == "" || s.Device == "" {
			return nil, fmt.Errorf("%s: steps[%d]: prompt and device are required", path, i)
		}
		if s.Within <= 0 {
			s.Within = 30 * time.Second
		}
		switch s.Expect.Quality {
		case "", "ok", "suspect", "bad":
		default:
			return nil, fmt.Errorf("%s: steps[%d]: expect.quality %q (ok, suspect, bad)", path, i, s.Expect.Quality)
		}
	}
	return &p, nil
}
