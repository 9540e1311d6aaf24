package passport

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
	return device.Config{ID: "r1", Options: device.Options{File: "test.yaml", Node: doc.Content[0]}, Clock: time.Now}
}
