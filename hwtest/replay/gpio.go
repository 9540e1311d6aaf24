package replay

import (
	"context"
	"fmt"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/kordon/kordon/hwtest/trace"
)

// GPIO plays a trace's GPIO events into periph.io fake pins, by line name:
// each level change is delivered as an edge (EdgesChan), so code waiting in
// WaitForEdge wakes exactly as on a box. Lines in the trace without a pin
// are an error; pins need an EdgesChan. Other events are ignored.
func GPIO(ctx context.Context, t *trace.Trace, pins map[string]*gpiotest.Pin, o Options) error {
	for _, e := range t.Events {
		if e.GPIO != nil && pins[e.GPIO.Line] == nil {
			return fmt.Errorf("at %.3fs: trace line %q has no pin", e.T.Seconds(), e.GPIO.Line)
		}
	}
	for {
		// The level each line has, as far as the replay has delivered it
		// (the pin's own L changes only when its reader takes the edge).
		levels := map[string]gpio.Level{}
		for n, p := range pins {
			p.Lock()
			levels[n] = p.L
			p.Unlock()
		}
		pace := newPacer(o)
		for i, e := range t.Events {
			if e.GPIO == nil {
				continue
			}
			if err := pace.wait(ctx, e.T); err != nil {
				return err
			}
			p := pins[e.GPIO.Line]
			l := gpio.Low
			if e.GPIO.Level != 0 {
				l = gpio.High
			}
			p.Lock()
			ch := p.EdgesChan
			p.Unlock()
			if levels[e.GPIO.Line] == l {
				// The recorder writes each line's level at the start; a
				// level the pin already has is no edge.
				continue
			}
			if ch == nil {
				return fmt.Errorf("pin %s: set EdgesChan to receive edges", e.GPIO.Line)
			}
			select {
			case ch <- l:
				levels[e.GPIO.Line] = l
			case <-ctx.Done():
				return ctx.Err()
			}
			if o.OnEvent != nil {
				o.OnEvent(i, e)
			}
		}
		if !o.Loop {
			return nil
		}
	}
}
