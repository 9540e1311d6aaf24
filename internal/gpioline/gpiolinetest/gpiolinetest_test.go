package gpiolinetest

import (
	"context"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
)

func TestFakeLines(t *testing.T) {
	f := New("GPIO17")
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
