package grammar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/framing"
)

// LineOptions are what the line drivers (scanner alarms,
// trace detectors, barcode scanners, radiation portal monitors) share.
type LineOptions struct {
	MaxLen int // longer lines are counted and dropped (default 512)
	// Silence, when positive, is how long the device may send nothing before
	// it is reported down with reason timeout; its next line brings it up.
	Silence time.Duration
}

// RunLines opens the device's byte stream, reports it up, and hands each line to
// handle until ctx ends (nil), the stream ends (io.EOF) or the port fails (a
// device.Fault). Torn and over-long lines are counted as bytes_torn and
// bytes_overlong.
func RunLines(ctx context.Context, cfg device.Config, out device.Output, o LineOptions, handle func(framing.Frame)) error {
	port, err := cfg.Stream(ctx)
	if err != nil {
		return &device.Fault{Reason: device.Unplugged, Err: err}
	}
	defer port.Close()
	out.Up()
	lines := &framing.Lines{
		Port: port, Now: cfg.Clock, MaxLen: o.MaxLen,
		Torn: func(reason string, n int) { out.Count("bytes_"+reason, n) },
	}
	silent := false
	for {
		next := ctx
		var cancel context.CancelFunc = func() {}
		if o.Silence > 0 && !silent {
			// A partial line survives an ended Next: framing keeps its buffer.
			next, cancel = context.WithTimeout(ctx, o.Silence)
		}
		f, err := lines.Next(next)
		cancel()
		switch {
		case err == nil:
			if silent {
				silent = false
				out.Up()
			}
			handle(f)
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, context.DeadlineExceeded):
			silent = true
			out.Down(device.Timeout, fmt.Sprintf("no data for %s", o.Silence))
		case errors.Is(err, io.EOF):
			return io.EOF
		default:
			return &device.Fault{Reason: device.Unplugged, Err: err}
		}
	}
}
