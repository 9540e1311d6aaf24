// Package barcode reads barcode scanners — over serial (one code per line)
// or as a USB keyboard wedge (HID boot reports decoded by internal/keyboard)
// — and types what they read: ISO 6346 container numbers are checked
// against their check digit (an invalid one is flagged, never dropped),
// codes matching configured patterns get their type, the rest is text.
package barcode

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/framing"
	"github.com/kordon/kordon/internal/grammar"
	"github.com/kordon/kordon/internal/keyboard"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/usbhid"
)

// Driver registers the family (drivers/all).
func Driver() device.Driver {
	return device.Driver{
		Name:  "barcode",
		Kind:  "barcode",
		Doc:   "barcode scanner over serial lines or USB keyboard wedge; ISO 6346 container check digits",
		Ports: []device.PortKind{device.Stream, device.HID},
		New:   New,
	}
}

// Options are the driver's settings in a box config.
type Options struct {
	// Framing is "line" (serial/tcp, a code per line) or "wedge" (USB HID
	// keyboard, a code per Enter; transport type usb).
	Framing string `yaml:"framing"`
	// Layout (wedge) is the keyboard layout the scanner types in (us, de, ru).
	Layout string `yaml:"layout"`
	// Interface (wedge) is the USB interface number of the keyboard.
	Interface int `yaml:"interface"`
	// Types are tried in order after the container check; the first whose
	// pattern matches the whole code gives its type.
	Types []Type `yaml:"types"`
	// Silence, when set, reports the scanner down after this long without a code.
	Silence time.Duration `yaml:"silence"`
	// RepeatWindow: a code read again within this long of its last read is
	// marked repeat (default 10m; 0 never marks). An officer rescanning a
	// container whose number fails its check digit gets one alert, not one
	// per rescan, while a different bad container still alerts at once.
	RepeatWindow time.Duration `yaml:"repeat_window"`
}

// Type is a configured kind of code (a customs declaration, a plate).
type Type struct {
	Name    string `yaml:"name"`
	Pattern string `yaml:"pattern"` // RE2, matched against the whole code
	// Personal codes (anything naming a person) travel in the payload's
	// personal text field, which the hub withholds from screens and logs.
	Personal bool `yaml:"personal"`
	re       *regexp.Regexp
}

// Scan is the barcode payload.
type Scan struct {
	// Type is container, a configured type's name, or text.
	Type      string `json:"type"`
	Symbology string `json:"symbology,omitempty"` // from an AIM identifier (]C1 ...), if the scanner sends one
	// Code is the code of a non-personal type (containers included).
	Code string `json:"code,omitempty"`
	// Text is the code of a personal type or of an untyped code: an
	// unknown code may be a document or a name, so it is treated as personal.
	Text      string     `json:"text,omitempty" personal:"true"`
	Container *Container `json:"container,omitempty"`
	// Repeat: the same code was read within repeat_window before (the
	// default rules raise no new alert for it).
	Repeat bool `json:"repeat,omitempty"`
}

func (Scan) Kind() string { return "barcode" }

type scanner struct {
	cfg    device.Config
	opts   Options
	layout *keyboard.Layout
}

// maxRemembered bounds the codes kept for repeat marking: a booth scans a
// few codes a minute, so the oldest of 256 is long out of any window.
const maxRemembered = 256

// recent remembers when each code was last read (in memory only: codes
// may be personal and never leave the driver this way).
type recent struct {
	window time.Duration
	last   map[string]time.Time
}

// seen records a read of code at at and says whether it repeats one
// within the window.
func (r *recent) seen(code string, at time.Time) bool {
	if r.window <= 0 {
		return false
	}
	if r.last == nil {
		r.last = map[string]time.Time{}
	}
	prev, ok := r.last[code]
	repeat := ok && at.Sub(prev) >= 0 && at.Sub(prev) <= r.window
	if len(r.last) >= maxRemembered && !ok {
		for c, t := range r.last {
			if at.Sub(t) > r.window {
				delete(r.last, c)
			}
		}
		if len(r.last) >= maxRemembered {
			clear(r.last)
		}
	}
	r.last[code] = at
	return repeat
}

// New validates the options.
func New(cfg device.Config) (device.Device, error) {
	o := Options{Framing: "line", Layout: "us", RepeatWindow: 10 * time.Minute}
	if err := cfg.Options.Decode(&o); err != nil {
		return nil, err
	}
	bad := func(f, format string, a ...any) error { return cfg.Options.Errorf(f, format, a...) }
	s := &scanner{cfg: cfg}
	switch o.Framing {
	case "line":
		if cfg.Transport.Type == "usb" {
			return nil, bad("framing", "a USB scanner types as a keyboard: use framing: wedge")
		}
	case "wedge":
		if t := cfg.Transport.Type; t != "usb" && t != "" {
			return nil, bad("framing", "wedge needs transport type usb, not %q", t)
		}
		l, err := keyboard.Lookup(o.Layout)
		if err != nil {
			return nil, bad("layout", "%v", err)
		}
		s.layout = l
	default:
		return nil, bad("framing", "unknown framing %q (line or wedge)", o.Framing)
	}
	if o.Silence < 0 {
		return nil, bad("silence", "must not be negative")
	}
	if o.RepeatWindow < 0 {
		return nil, bad("repeat_window", "must not be negative")
	}
	for i := range o.Types {
		t := &o.Types[i]
		if t.Name == "" || t.Name == "container" || t.Name == "text" || len(t.Name) > 64 {
			return nil, bad("types", "types[%d]: name missing, reserved (container, text) or over 64 bytes", i)
		}
		re, err := regexp.Compile(`^(?:` + t.Pattern + `)$`)
		if err != nil || t.Pattern == "" {
			return nil, bad("types", "types[%d] (%s): pattern: %v", i, t.Name, err)
		}
		t.re = re
	}
	s.opts = o
	return s, nil
}

// Run reads codes until ctx ends or the scanner goes away.
func (s *scanner) Run(ctx context.Context, out device.Output) error {
	rec := &recent{window: s.opts.RepeatWindow}
	if s.opts.Framing == "wedge" {
		return s.runWedge(ctx, out, rec)
	}
	return grammar.RunLines(ctx, s.cfg, out, grammar.LineOptions{MaxLen: 256, Silence: s.opts.Silence}, func(f framing.Frame) {
		s.code(string(f.Data), f.At, out, rec)
	})
}

// code types one scanned code and emits it.
func (s *scanner) code(text string, at time.Time, out device.Output, rec *recent) {
	text = strings.TrimSpace(text)
	sc := Scan{}
	text, sc.Symbology = aim(text)
	if text == "" || !printable(text) {
		out.Count("codes_unreadable", 1)
		return
	}
	q := reading.Quality{Status: reading.OK}
	if c, ok := ParseContainer(text); ok {
		sc.Type, sc.Code, sc.Container = "container", c.Owner+c.Category+c.Serial+fmt.Sprint(c.Check), &c
		if !c.Valid {
			q = reading.Quality{Status: reading.Suspect, Reason: fmt.Sprintf("ISO 6346 check digit %d, computed %d", c.Check, c.Computed)}
		}
	} else {
		sc.Type, sc.Text = "text", text
		for _, t := range s.opts.Types {
			if t.re.MatchString(text) {
				sc.Type = t.Name
				if !t.Personal {
					sc.Code, sc.Text = text, ""
				}
				break
			}
		}
	}
	sc.Repeat = rec.seen(text, at)
	// Not kept: the box counted it; a scan carries no state forward.
	_ = out.Emit(reading.Reading{Origin: at, Payload: sc, Quality: q})
}

// printable rejects codes with control characters (line noise).
func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}

// aim strips an AIM symbology identifier ("]" + code letter + modifier),
// which scanners can be set to prefix, and names the symbology.
func aim(s string) (string, string) {
	if len(s) < 3 || s[0] != ']' {
		return s, ""
	}
	names := map[byte]string{'A': "code39", 'C': "code128", 'E': "ean-upc", 'I': "itf", 'L': "pdf417", 'Q': "qr", 'd': "datamatrix", 'e': "gs1-databar", 'F': "codabar", 'G': "code93", 'z': "aztec"}
	n, ok := names[s[1]]
	if !ok {
		return s, ""
	}
	return s[3:], n
}

// wedgeGap is the longest pause between the keys of one code: scanners
// type a code in a burst.
const wedgeGap = time.Second

// runWedge reads a USB keyboard-wedge scanner: boot reports decoded through
// its layout into codes ended by Enter (the same decoding the passport
// reader's wedge uses, internal/keyboard).
func (s *scanner) runWedge(ctx context.Context, out device.Output, rec *recent) error {
	id, err := usbhid.ParseID(s.cfg.Transport.Vendor, s.cfg.Transport.Product)
	if err != nil && s.cfg.Transport.Type == "usb" {
		return &device.Fault{Reason: device.Unplugged, Err: err}
	}
	id.Interface = s.opts.Interface
	dev, err := s.cfg.HID(id)
	if err != nil {
		return &device.Fault{Reason: device.Unplugged, Err: err}
	}
	defer dev.Close()
	now := s.cfg.Clock
	kb := keyboard.NewRows(s.layout)
	kb.MaxLen = 256
	kb.Count = out.Count
	out.Up()
	b := make([]byte, 64)
	for {
		n, err := dev.ReadReport(ctx, b)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return &device.Fault{Reason: device.Unplugged, Err: fmt.Errorf("wedge: %w", err)}
		}
		at := now()
		if k, last := kb.Pending(); k > 0 && at.Sub(last) > wedgeGap {
			// A code never ended by Enter must not prefix the next one.
			out.Count("chars_torn", kb.Drop())
		}
		for _, row := range kb.Feed(b[:n], at) {
			if row.Unmapped > 0 {
				out.Count("keys_unmapped", row.Unmapped)
				continue // a code with keys we cannot name is not the code
			}
			s.code(row.Text, row.At, out, rec)
		}
	}
}
