package thermometer

import (
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/internal/device"
)

func configWith(t *testing.T, src string) device.Config {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	var n *yaml.Node
	if len(doc.Content) > 0 {
		n = doc.Content[0]
	}
	return device.Config{ID: "thermo1", Options: device.Options{File: "box.yaml", Node: n}, Clock: time.Now}
}
