package grammar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/framing"
	"github.com/kordon/kordon/internal/transport"
)

// LineOptions are what the line drivers of this issue (scanner alarms,
// trace detectors, barcode scanners, radiation portal monitors) share.
type LineOptions struct {
	MaxLen int // longer lines are counted and dropped (default 512)
	// Silence, when positive, is how long the device may send nothing before
	// it is reported down with reason timeout; its next line brings it up.
	Silence time.Duration
}

// RunLines opens the device's port (serial, the Port override, or a TCP
// connection for transport type tcp), reports it up, and hands each line to
// handle until ctx ends (nil), the stream ends (io.EOF) or the port fails (a
// device.Fault). Torn and over-long lines are counted as bytes_torn and
// bytes_overlong.
func RunLines(ctx context.Context, cfg device.Config, out device.Output, o LineOptions, handle func(framing.Frame)) error {
	port, err := OpenLinePort(ctx, cfg)
	if err != nil {
		return &device.Fault{Reason: device.Unplugged, Err: err}
	}
	defer port.Close()
	out.Up()
	lines := &framing.Lines{
		Port: port, Now: cfg.Clock(), MaxLen: o.MaxLen,
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

// OpenLinePort opens the configured byte stream: cfg.Port when set, a TCP
// connection for transport type tcp, the serial port otherwise.
func OpenLinePort(ctx context.Context, cfg device.Config) (transport.Port, error) {
	if cfg.Port != nil || cfg.Transport.Type != "tcp" {
		return cfg.OpenPort()
	}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "tcp", cfg.Transport.Address)
	if err != nil {
		return nil, err
	}
	return &tcpPort{Conn: c}, nil
}

// tcpPort gives a TCP connection the serial Port's read-timeout behaviour:
// a read that times out returns (0, nil).
type tcpPort struct {
	net.Conn
	timeout time.Duration
}

func (p *tcpPort) SetReadTimeout(d time.Duration) error { p.timeout = d; return nil }

func (p *tcpPort) Read(b []byte) (int, error) {
	if p.timeout > 0 {
		if err := p.Conn.SetReadDeadline(time.Now().Add(p.timeout)); err != nil {
			return 0, err
		}
	}
	n, err := p.Conn.Read(b)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return n, nil
	}
	return n, err
}
