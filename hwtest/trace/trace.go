// Package trace reads and writes Kordon device traces (docs/trace-format.md):
// text, one JSON object per line, a header line first, then events with
// time offsets from the start of the recording.
package trace

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Version is the header's format tag.
const Version = "kordon.trace/1"

// Header is the first line of a trace: what was recorded and how to replay it.
type Header struct {
	Trace     string         `json:"trace"`
	Device    string         `json:"device,omitempty"`
	Driver    string         `json:"driver"`
	Transport string         `json:"transport,omitempty"` // serial | usb | gpio | folder | tcp
	Options   map[string]any `json:"options,omitempty"`   // the driver options to replay with
	Recorded  time.Time      `json:"recorded"`            // wall clock at t=0; replays use it as the box clock
	Source    string         `json:"source,omitempty"`    // what device, firmware, site (no personal data)
	Note      string         `json:"note,omitempty"`
	// USB names the recorded USB device, so a replay can hand the driver
	// the ids it expects (some drivers report the model from them).
	USB *USBDevice `json:"usb,omitempty"`
	// Replay, when set, says how the trace must be paced to mean what was
	// recorded (see harness.PaceOf for the default).
	Replay *Pace `json:"replay,omitempty"`
}

// Pace is how a trace is replayed.
type Pace struct {
	// Speed: 0 as fast as ordering allows, 1 the recorded timing, N times faster.
	Speed float64 `json:"speed"`
	// MaxGap, in seconds, shortens longer pauses to this (0: keep them).
	MaxGap float64 `json:"max_gap,omitempty"`
}

// USBDevice identifies a USB device by its hex ids.
type USBDevice struct {
	Vendor    string `json:"vendor"`  // hex, e.g. "413d"
	Product   string `json:"product"` // hex, e.g. "2107"
	Interface int    `json:"interface,omitempty"`
}

var usbIDInText = regexp.MustCompile(`\b([0-9a-fA-F]{4}):([0-9a-fA-F]{4})\b`)

// USBID returns the header's USB ids. Traces written before the usb field
// existed named them in source ("... 413d:2107 ..."); those are accepted
// too. ok is false when neither says.
func (h Header) USBID() (d USBDevice, ok bool) {
	if h.USB != nil && h.USB.Vendor != "" && h.USB.Product != "" {
		return *h.USB, true
	}
	if m := usbIDInText.FindStringSubmatch(h.Source); m != nil {
		return USBDevice{Vendor: strings.ToLower(m[1]), Product: strings.ToLower(m[2])}, true
	}
	return USBDevice{}, false
}

// OptionsNode returns the header's driver options as a YAML node, the form
// device.Options carries.
func (h Header) OptionsNode() (*yaml.Node, error) {
	if len(h.Options) == 0 {
		return nil, nil
	}
	var n yaml.Node
	if err := n.Encode(h.Options); err != nil {
		return nil, err
	}
	return &n, nil
}

// GPIO is a level seen on a named line.
type GPIO struct {
	Line  string `json:"line"`
	Level int    `json:"level"` // 0 or 1
}

// USB is one transfer on an endpoint (e.g. an 8-byte HID report).
type USB struct {
	Endpoint int    `json:"ep"` // endpoint address, 0x81 = IN 1
	Data     []byte `json:"-"`
	Hex      string `json:"hex"`
}

// Event is one timed thing that happened on the wire.
type Event struct {
	T      time.Duration // offset from the start of the trace
	Dev    []byte        // device -> host bytes
	Host   []byte        // host -> device bytes (a poll the device answers)
	GPIO   *GPIO
	USB    *USB
	Note   string // an annotation ("officer presents specimen")
	Unplug bool   // the device disappeared here
	Replug bool   // and came back
}

type wireEvent struct {
	T       float64 `json:"t"`
	Dev     *string `json:"dev,omitempty"`
	DevHex  string  `json:"dev_hex,omitempty"`
	Host    *string `json:"host,omitempty"`
	HostHex string  `json:"host_hex,omitempty"`
	GPIO    *GPIO   `json:"gpio,omitempty"`
	USB     *USB    `json:"usb,omitempty"`
	Note    string  `json:"note,omitempty"`
	Unplug  bool    `json:"unplug,omitempty"`
	Replug  bool    `json:"replug,omitempty"`
}

// MarshalJSON writes bytes as readable text when they are printable, as hex otherwise.
func (e Event) MarshalJSON() ([]byte, error) {
	w := wireEvent{T: e.T.Seconds(), GPIO: e.GPIO, Note: e.Note, Unplug: e.Unplug, Replug: e.Replug}
	if e.Dev != nil {
		if isText(e.Dev) {
			s := string(e.Dev)
			w.Dev = &s
		} else {
			w.DevHex = hexSpaced(e.Dev)
		}
	}
	if e.Host != nil {
		if isText(e.Host) {
			s := string(e.Host)
			w.Host = &s
		} else {
			w.HostHex = hexSpaced(e.Host)
		}
	}
	if e.USB != nil {
		u := *e.USB
		u.Hex = hexSpaced(u.Data)
		w.USB = &u
	}
	// Without HTML escaping: MRZ filler '<' stays readable, not \u003c.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// UnmarshalJSON reads an event line.
func (e *Event) UnmarshalJSON(b []byte) error {
	var w wireEvent
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return err
	}
	if w.T < 0 {
		return errors.New("negative time offset")
	}
	*e = Event{T: time.Duration(w.T * float64(time.Second)), GPIO: w.GPIO, Note: w.Note, Unplug: w.Unplug, Replug: w.Replug}
	var err error
	switch {
	case w.Dev != nil && w.DevHex != "":
		return errors.New("both dev and dev_hex")
	case w.Dev != nil:
		e.Dev = []byte(*w.Dev)
	case w.DevHex != "":
		if e.Dev, err = parseHex(w.DevHex); err != nil {
			return fmt.Errorf("dev_hex: %w", err)
		}
	}
	switch {
	case w.Host != nil && w.HostHex != "":
		return errors.New("both host and host_hex")
	case w.Host != nil:
		e.Host = []byte(*w.Host)
	case w.HostHex != "":
		if e.Host, err = parseHex(w.HostHex); err != nil {
			return fmt.Errorf("host_hex: %w", err)
		}
	}
	if w.USB != nil {
		u := *w.USB
		if u.Data, err = parseHex(u.Hex); err != nil {
			return fmt.Errorf("usb.hex: %w", err)
		}
		e.USB = &u
	}
	return nil
}

// Trace is a whole recording.
type Trace struct {
	Header Header
	Events []Event
}

// Duration is the offset of the last event.
func (t *Trace) Duration() time.Duration {
	if len(t.Events) == 0 {
		return 0
	}
	return t.Events[len(t.Events)-1].T
}

// Read parses a trace. Errors name the line.
func Read(r io.Reader) (*Trace, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	var t Trace
	line := 0
	var last time.Duration
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 || b[0] == '#' {
			continue
		}
		if t.Header.Trace == "" {
			if err := json.Unmarshal(b, &t.Header); err != nil {
				return nil, fmt.Errorf("line %d: header: %w", line, err)
			}
			if t.Header.Trace != Version {
				return nil, fmt.Errorf("line %d: header: trace %q, want %q", line, t.Header.Trace, Version)
			}
			continue
		}
		var e Event
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if e.T < last {
			return nil, fmt.Errorf("line %d: time %.3fs goes back (previous %.3fs)", line, e.T.Seconds(), last.Seconds())
		}
		last = e.T
		t.Events = append(t.Events, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	if t.Header.Trace == "" {
		return nil, errors.New("empty trace: no header line")
	}
	return &t, nil
}

// ReadFile parses the trace in a file.
func ReadFile(path string) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Writer appends a trace line by line (for recorders: every event is on
// disk as soon as it is written).
type Writer struct {
	w   io.Writer
	enc *json.Encoder
}

// NewWriter writes the header and returns a writer for events.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	h.Trace = Version
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(h); err != nil {
		return nil, err
	}
	return &Writer{w: w, enc: enc}, nil
}

// Write appends one event.
func (w *Writer) Write(e Event) error { return w.enc.Encode(e) }

func isText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r < 0x20 && r != '\r' && r != '\n' && r != '\t' || r == 0x7f {
			return false
		}
	}
	return true
}

func hexSpaced(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(hex.EncodeToString([]byte{c}))
	}
	return sb.String()
}

func parseHex(s string) ([]byte, error) {
	return hex.DecodeString(strings.Join(strings.Fields(s), ""))
}
