package gpioline

import (
	"context"
	"strings"
	"testing"
	"time"

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

func TestFakeLines(t *testing.T) {
	f := NewFake("GPIO17")
	if _, err := f.Open("GPIO18"); err == nil {
		t.Error("unknown fake line opened")
	}
	p, err := f.Open("GPIO17")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Outputs are recorded and can be waited for.
	go p.Out(gpio.High)
	outs, err := f.Pin("GPIO17").WaitOuts(ctx, 1)
	if err != nil || outs[0].Level != gpio.High {
		t.Fatalf("outs %v, %v", outs, err)
	}
	// Inputs: an edge is handed to WaitForEdge and sets the level.
	if err := p.In(gpio.PullUp, gpio.BothEdges); err != nil {
		t.Fatal(err)
	}
	got := make(chan bool)
	go func() { got <- p.WaitForEdge(10 * time.Second) }()
	if err := f.Pin("GPIO17").Edge(ctx, gpio.Low); err != nil {
		t.Fatal(err)
	}
	if !<-got || p.Read() != gpio.Low {
		t.Errorf("edge not seen: level %v", p.Read())
	}
	if len(f.Pin("GPIO17").Outs()) != 1 {
		t.Errorf("an input edge was recorded as an output: %v", f.Pin("GPIO17").Outs())
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
