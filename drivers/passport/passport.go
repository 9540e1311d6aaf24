// Package passport drives passport and ID readers that output the machine
// readable zone (ICAO 9303) over a serial line. Decoding lives in package
// mrz; this package turns a byte stream into MRZ rows and rows into readings.
package passport

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/kordon/kordon/drivers/passport/mrz"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/framing"
	"github.com/kordon/kordon/internal/reading"
)

// Driver registers the family (drivers/drivers.go).
var Driver = device.Driver{
	Name: "mrz",
	Kind: "document",
	Doc:  "passport/ID reader sending ICAO 9303 MRZ rows over serial",
	New:  New,
}

// Options are the driver's settings in a box config.
type Options struct {
	// Framing is how rows arrive: "line" (each row ends in CR, LF or CR LF).
	Framing string `yaml:"framing"`
	// RowGap is the longest pause between rows of one document; a row
	// arriving later starts a new document. Default 500ms.
	RowGap time.Duration `yaml:"row_gap"`
	// Raw attaches the received rows to each reading as evidence.
	Raw *bool `yaml:"raw"`
}

type reader struct {
	cfg  device.Config
	opts Options
}

// New validates the options of one reader.
func New(cfg device.Config) (device.Device, error) {
	o := Options{Framing: "line", RowGap: 500 * time.Millisecond}
	if err := cfg.Options.Decode(&o); err != nil {
		return nil, err
	}
	switch o.Framing {
	case "line":
	default:
		return nil, cfg.Options.Errorf(cfg.Options.Node, "framing", "unknown framing %q (line)", o.Framing)
	}
	if o.RowGap <= 0 {
		return nil, cfg.Options.Errorf(cfg.Options.Node, "row_gap", "must be positive")
	}
	return &reader{cfg: cfg, opts: o}, nil
}

// Run reads documents until ctx ends or the port fails.
func (r *reader) Run(ctx context.Context, out device.Output) error {
	port, err := r.cfg.OpenPort()
	if err != nil {
		return &device.Fault{Reason: device.Unplugged, Err: err}
	}
	defer port.Close()
	out.Up()
	now := r.cfg.Clock()
	lines := &framing.Lines{
		Port: port, Now: now, MaxLen: 128,
		Torn: func(reason string, n int) { out.Count("bytes_"+reason, n) },
	}
	asm := rowAssembler{gap: r.opts.RowGap}
	for {
		f, err := lines.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return &device.Fault{Reason: device.Unplugged, Err: err}
		}
		rows, at, incomplete, noise := asm.add(f)
		if incomplete > 0 {
			out.Count("rows_incomplete", incomplete)
		}
		if noise {
			out.Count("lines_noise", 1)
		}
		if rows == nil {
			continue
		}
		doc, err := mrz.Parse(rows, now())
		if err != nil {
			out.Count("rows_unparsed", len(rows))
			continue
		}
		rd := reading.Reading{Origin: at, Payload: doc, Quality: doc.Quality()}
		if r.opts.Raw == nil || *r.opts.Raw {
			rd.Raw = joinRows(rows)
		}
		out.Emit(rd)
	}
}

// rowAssembler groups rows into documents by their length: 3 rows of 30
// (TD1), 2 of 36 (TD2, MRV-B) or 2 of 44 (TD3, MRV-A). Anything else is noise.
type rowAssembler struct {
	gap  time.Duration
	rows []string
	at   time.Time // first row's arrival
	last time.Time
}

func rowsFor(n int) int {
	switch n {
	case 30:
		return 3
	case 36, 44:
		return 2
	}
	return 0
}

// add takes one line; it returns a complete document's rows (and when its
// first byte arrived), how many earlier rows were dropped as incomplete, and
// whether the line itself was noise (no MRZ row length).
func (a *rowAssembler) add(f framing.Frame) (rows []string, at time.Time, incomplete int, noise bool) {
	line := string(f.Data)
	want := rowsFor(len(line))
	if len(a.rows) > 0 && (want == 0 || len(line) != len(a.rows[0]) || f.At.Sub(a.last) > a.gap) {
		incomplete = len(a.rows)
		a.rows = nil
	}
	if want == 0 {
		return nil, time.Time{}, incomplete, true
	}
	if len(a.rows) == 0 {
		a.at = f.At
	}
	a.rows = append(a.rows, line)
	a.last = f.At
	if len(a.rows) < want {
		return nil, time.Time{}, incomplete, false
	}
	rows, at = a.rows, a.at
	a.rows = nil
	return rows, at, incomplete, false
}

func joinRows(rows []string) []byte {
	var b []byte
	for _, r := range rows {
		b = append(b, r...)
		b = append(b, '\r')
	}
	return b
}
