package gpioline

import (
	"strings"
	"testing"

	"periph.io/x/conn/v3/gpio"
)

// TestOpenWithoutChips: on a machine without GPIO chips (these build
// machines), periph.io finds no line and Open says so instead of failing
// later or panicking.
func TestOpenWithoutChips(t *testing.T) {
	p, err := Open("KORDON_NO_SUCH_LINE")
	if err == nil {
		t.Fatalf("Open found %v", p)
	}
	if !strings.Contains(err.Error(), `"KORDON_NO_SUCH_LINE"`) {
		t.Errorf("error %q does not name the line", err)
	}
}

func TestParse(t *testing.T) {
	if l, err := ParseLevel("low"); err != nil || l != gpio.Low {
		t.Error("low")
	}
	if _, err := ParseLevel("LOW"); err == nil {
		t.Error("LOW accepted")
	}
	for s, want := range map[string]gpio.Pull{"up": gpio.PullUp, "down": gpio.PullDown, "none": gpio.Float, "keep": gpio.PullNoChange} {
		if p, err := ParsePull(s); err != nil || p != want {
			t.Errorf("%s: %v %v", s, p, err)
		}
	}
	if _, err := ParsePull("weak"); err == nil {
		t.Error("weak accepted")
	}
}
