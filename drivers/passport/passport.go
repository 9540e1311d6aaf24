// Package passport drives passport and ID readers that output the machine
// readable zone (ICAO 9303). Decoding lives in package mrz; this package
// turns what a reader sends into MRZ rows and rows into readings.
//
// A reader is one of four framings (vendors keep their host protocols
// private, so the framing is configured per device):
//
//   - line: each row ends in CR, LF or CR LF;
//   - stx: STX rows ETX blocks, optional start/end-of-data bytes;
//   - 3m: length-prefixed blocks with a block check byte;
//   - wedge: a USB keyboard-wedge reader typing rows ended by Enter (wedge.go).
//
// Package framing cuts the serial framings into rows and blocks; line and
// wedge rows are grouped into documents by their length and timing
// (package mrzrow). A read that fails (rows missing, a torn or corrupt
// block) becomes a reading of quality bad with a Failure payload, so the
// officer sees at once that the document must be presented again; noise
// between frames is counted and never stops the driver.
package passport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kordon/kordon/drivers/passport/framing"
	"github.com/kordon/kordon/drivers/passport/mrz"
	"github.com/kordon/kordon/drivers/passport/mrzrow"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/keyboard"
	"github.com/kordon/kordon/internal/reading"
)

// Driver registers the family (drivers/all).
func Driver() device.Driver {
	return device.Driver{
		Name:  "mrz",
		Kind:  "document",
		Doc:   "passport/ID reader (ICAO 9303 MRZ): serial line, STX/ETX or 3M-native blocks, or USB keyboard wedge",
		Ports: []device.PortKind{device.Stream, device.HID},
		New:   New,
	}
}

// Options are the driver's settings in a box config.
type Options struct {
	// Framing is how the reader sends a document: line, stx, 3m or wedge.
	Framing string `yaml:"framing"`
	// LineEnd (line) is the row terminator: any (CR, LF or CR LF; the
	// default), cr, lf or crlf.
	LineEnd string `yaml:"line_end"`
	// StartByte and EndByte (stx) are the start/end-of-data bytes some
	// readers put around the STX/ETX block, e.g. 0x1c.
	StartByte *int `yaml:"start_byte"`
	EndByte   *int `yaml:"end_byte"`
	// RowGap is the longest pause between rows of one document (line,
	// wedge), and how long a partial frame may stay quiet before it is
	// torn. Default 500ms.
	RowGap time.Duration `yaml:"row_gap"`
	// Trigger (serial framings) is a command sent when the port opens and
	// after each read, for readers that read only when asked, e.g. "R\r".
	Trigger string `yaml:"trigger"`
	// TriggerEvery re-sends the trigger after this long with nothing from
	// the reader: readers that give up waiting for a document, and readers
	// that booted after the box opened the port and never heard the first
	// trigger. Default 2s when a trigger is set; 0: never.
	TriggerEvery time.Duration `yaml:"trigger_every"`
	// Layout (wedge) is the keyboard layout the reader is set to type in:
	// us (default) or de. The box reads key codes itself, so the booth
	// PC's or the box's own keyboard layout does not matter.
	Layout string `yaml:"layout"`
	// Interface (wedge) is the USB interface number of the keyboard.
	Interface int `yaml:"interface"`
	// Raw attaches the received rows to each reading as evidence.
	Raw *bool `yaml:"raw"`
}

type reader struct {
	cfg    device.Config
	opts   Options
	layout *keyboard.Layout
}

// New validates the options of one reader.
func New(cfg device.Config) (device.Device, error) {
	o := Options{Framing: "line", LineEnd: "any", RowGap: 500 * time.Millisecond, TriggerEvery: -1}
	if err := cfg.Options.Decode(&o); err != nil {
		return nil, err
	}
	if o.TriggerEvery == -1 { // not set
		o.TriggerEvery = 0
		if o.Trigger != "" {
			o.TriggerEvery = defaultTriggerEvery
		}
	}
	bad := func(field, format string, args ...any) error {
		return cfg.Options.Errorf(field, format, args...)
	}
	r := &reader{cfg: cfg, opts: o}
	usb := cfg.Transport.Type == "usb"
	switch o.Framing {
	case "line", "stx", "3m":
		if usb {
			return nil, bad("framing", "a USB reader types as a keyboard: use framing: wedge")
		}
	case "wedge":
		if t := cfg.Transport.Type; t != "" && !usb {
			return nil, bad("framing", "wedge needs transport type usb, not %q", t)
		}
		if o.Trigger != "" {
			return nil, bad("trigger", "a keyboard wedge cannot be sent a trigger")
		}
		name := o.Layout
		if name == "" {
			name = "us"
		}
		l, err := keyboard.Lookup(name)
		if err != nil {
			return nil, bad("layout", "%v", err)
		}
		if l.Name == "ru" {
			return nil, bad("layout", "ru types Cyrillic letters, so no reader can type a Latin MRZ in it; "+
				"set the reader to its US layout and use layout: us (the box reads key codes, the PC's layout does not matter)")
		}
		r.layout = l
	default:
		return nil, bad("framing", "unknown framing %q (line, stx, 3m or wedge)", o.Framing)
	}
	switch o.LineEnd {
	case "any", "cr", "lf", "crlf":
	default:
		return nil, bad("line_end", "unknown line end %q (any, cr, lf or crlf)", o.LineEnd)
	}
	for field, b := range map[string]*int{"start_byte": o.StartByte, "end_byte": o.EndByte} {
		if b != nil && (*b < 0 || *b > 255 || *b == framing.STX || *b == framing.ETX) {
			return nil, bad(field, "must be a byte 0x00-0xff other than STX and ETX")
		}
	}
	if o.RowGap <= 0 {
		return nil, bad("row_gap", "must be positive")
	}
	if o.TriggerEvery < 0 || (o.TriggerEvery > 0 && o.Trigger == "") {
		return nil, bad("trigger_every", "needs a trigger and a positive duration")
	}
	if o.Layout != "" && o.Framing != "wedge" {
		return nil, bad("layout", "only a wedge reader has a keyboard layout")
	}
	return r, nil
}

// defaultTriggerEvery is the trigger's re-send interval: short enough that a
// reader that boots late is asked within seconds, long enough that a
// reader reading a document (a row every ~50 ms) is never interrupted.
const defaultTriggerEvery = 2 * time.Second

// tick is how often a quiet reader is checked for torn frames, expired row
// gaps and a due trigger.
const tick = 50 * time.Millisecond

func (r *reader) newFramer(c framing.Counter) framing.Framer {
	switch r.opts.Framing {
	case "stx":
		return framing.NewSTX(byteOr(r.opts.StartByte), byteOr(r.opts.EndByte), r.opts.RowGap, c)
	case "3m":
		return framing.New3M(r.opts.RowGap, c)
	}
	return framing.NewLine(r.opts.LineEnd, r.opts.RowGap, c)
}

func byteOr(b *int) int {
	if b == nil {
		return -1
	}
	return *b
}

// Run reads documents until ctx ends or the reader fails.
func (r *reader) Run(ctx context.Context, out device.Output) error {
	if r.opts.Framing == "wedge" {
		return r.runWedge(ctx, out)
	}
	port, err := r.cfg.Stream(ctx)
	if err != nil {
		return &device.Fault{Reason: device.Unplugged, Err: err}
	}
	defer port.Close()
	if err := port.SetReadTimeout(tick); err != nil {
		return &device.Fault{Reason: device.Unplugged, Err: err}
	}
	now := r.cfg.Clock
	s := r.newSession(out)
	fr := r.newFramer(out.Count)
	trig := trigger{cmd: []byte(r.opts.Trigger), every: r.opts.TriggerEvery}
	if err := trig.send(port, now()); err != nil {
		return err
	}
	out.Up()
	buf := make([]byte, 512)
	var units []framing.Unit
	for {
		if ctx.Err() != nil {
			return nil
		}
		n, rerr := port.Read(buf)
		t := now()
		units = units[:0]
		if n > 0 {
			trig.heard = t
			units = fr.Feed(units, buf[:n], t)
		}
		if errors.Is(rerr, io.EOF) {
			// The stream ended (hwtest decode of a file): what is held is
			// all there will be.
			s.units(fr.End(units))
			s.finish()
			return io.EOF
		}
		units = fr.Expire(units, t)
		s.units(units)
		s.expire(t)
		if rerr != nil {
			// The port failed mid-document (unplugged, cable pulled): rows
			// held so far are an incomplete read the officer must see, not
			// something to drop with the session.
			s.units(fr.End(nil))
			s.finish()
			return &device.Fault{Reason: device.Unplugged, Err: rerr}
		}
		if err := trig.due(port, s.reads, t); err != nil {
			return err
		}
	}
}

// trigger sends a reader's read command on open, after every read, and
// again after every quiet period.
type trigger struct {
	cmd   []byte
	every time.Duration
	sent  time.Time
	heard time.Time // last byte from the reader
	reads int       // s.reads when last sent
}

func (g *trigger) send(w io.Writer, now time.Time) error {
	if len(g.cmd) == 0 {
		return nil
	}
	g.sent = now
	if _, err := w.Write(g.cmd); err != nil {
		return &device.Fault{Reason: device.Unplugged, Err: fmt.Errorf("trigger: %w", err)}
	}
	return nil
}

func (g *trigger) due(w io.Writer, reads int, now time.Time) error {
	if len(g.cmd) == 0 {
		return nil
	}
	quiet := now.Sub(g.sent)
	if h := now.Sub(g.heard); h < quiet {
		quiet = h
	}
	if reads != g.reads || (g.every > 0 && quiet >= g.every) {
		g.reads = reads
		return g.send(w, now)
	}
	return nil
}

// session turns units into readings for one Run.
type session struct {
	out   device.Output
	now   func() time.Time
	raw   bool
	asm   mrzrow.Assembler
	docs  []mrzrow.Doc
	reads int // readings emitted (a trigger re-arms after each)
}

func (r *reader) newSession(out device.Output) *session {
	return &session{out: out, now: r.cfg.Clock, raw: r.opts.Raw == nil || *r.opts.Raw,
		asm: mrzrow.Assembler{Gap: r.opts.RowGap}}
}

func (s *session) units(us []framing.Unit) {
	for _, u := range us {
		if !u.Block {
			s.docs = s.asm.Add(s.docs[:0], u.Rows[0], u.At, u.End)
			s.emitDocs()
			continue
		}
		s.block(u)
	}
}

// row takes one typed row (wedge).
func (s *session) row(text string, at, end time.Time) {
	b := mrzrow.Trim([]byte(text))
	if rows, ok := mrzrow.SplitOneLine(b); ok {
		s.block(framing.Unit{Rows: rows, At: at, End: end, Block: true})
		return
	}
	text = string(b)
	if !mrzrow.Plausible(b) {
		s.out.Count("lines_noise", 1)
		return
	}
	s.docs = s.asm.Add(s.docs[:0], text, at, end)
	s.emitDocs()
}

func (s *session) expire(now time.Time) {
	s.docs = s.asm.Expire(s.docs[:0], now)
	s.emitDocs()
}

func (s *session) finish() {
	s.docs = s.asm.Flush(s.docs[:0])
	s.emitDocs()
}

func (s *session) emitDocs() {
	for _, d := range s.docs {
		if d.Complete {
			s.decode(d.Rows, d.At)
			continue
		}
		s.out.Count("documents_incomplete", 1)
		p, q := incomplete(d.Rows)
		s.emit(p, q, d.Rows, d.At)
	}
}

// block takes one whole transmission (stx, 3m).
func (s *session) block(u framing.Unit) {
	switch u.Fail {
	case "block_check":
		s.out.Count("blocks_bad_bcc", 1)
		p, q := blockCheck()
		s.emit(p, q, nil, u.At)
		return
	case "incomplete":
		s.out.Count("documents_incomplete", 1)
		p, q := incomplete(u.Rows)
		s.emit(p, q, u.Rows, u.At)
		return
	}
	mrzRows, same := 0, true
	for _, r := range u.Rows {
		if mrzrow.Plausible([]byte(r)) {
			mrzRows++
		}
		same = same && len(r) == len(u.Rows[0])
	}
	switch {
	case mrzRows == 0:
		// "READY", a status block: nothing that could be a document.
		s.out.Count("blocks_noise", 1)
	case same && mrzRows == len(u.Rows) && len(u.Rows) < mrzrow.PerDocument(len(u.Rows[0])):
		s.out.Count("documents_incomplete", 1)
		p, q := incomplete(u.Rows)
		s.emit(p, q, u.Rows, u.At)
	default:
		s.decode(u.Rows, u.At)
	}
}

func (s *session) decode(rows []string, at time.Time) {
	d, err := mrz.Parse(rows, s.now())
	if err != nil {
		s.out.Count("documents_unreadable", 1)
		p, q := unreadable(rows)
		s.emit(p, q, rows, at)
		return
	}
	s.emit(d, d.Quality(), rows, at)
}

func (s *session) emit(p reading.Payload, q reading.Quality, rows []string, at time.Time) {
	rd := reading.Reading{Origin: at, Payload: p, Quality: q}
	if s.raw && len(rows) > 0 {
		rd.Raw = joinRows(rows)
	}
	s.reads++
	// Not kept: the box counted it; a document read carries no state forward.
	_ = s.out.Emit(rd)
}

func joinRows(rows []string) []byte {
	return []byte(strings.Join(rows, "\r") + "\r")
}
