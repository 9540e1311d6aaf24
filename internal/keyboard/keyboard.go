// Package keyboard decodes USB HID boot-keyboard input reports into the
// characters a keyboard-wedge device (passport reader, barcode scanner)
// typed, and assembles them into rows ended by Enter.
//
// A wedge device does not send characters: it sends key positions (HID
// usage codes, HID Usage Tables §10) with a shift state, as if a person
// typed on a keyboard of the layout the device is configured for. The box
// reads those reports itself (the kernel's HID driver is detached), so the
// operating system's keyboard layout plays no part: what matters is only
// the layout the device emulates. A reader set to "US" types '<' as
// Shift+comma; one set to "German" types it with the key left of Y.
//
// Boot report (HID 1.11 appendix B): byte 0 modifiers (bit 0 LCtrl,
// 1 LShift, 2 LAlt, 3 LGUI, 4 RCtrl, 5 RShift, 6 RAlt/AltGr, 7 RGUI),
// byte 1 reserved, bytes 2-7 the usage codes of up to six keys held down.
// A key is typed when it appears in a report and was not in the previous
// one; the modifiers of that report apply to it.
package keyboard

import (
	"errors"
	"fmt"
	"strings"
)

// ReportLen is the length of a boot-keyboard input report.
const ReportLen = 8

// Modifier bits of byte 0.
const (
	modLCtrl  = 1 << 0
	modLShift = 1 << 1
	modLAlt   = 1 << 2
	modRCtrl  = 1 << 4
	modRShift = 1 << 5
	modRAlt   = 1 << 6
)

// Usage codes with a meaning beyond a character.
const (
	usageRollOver  = 0x01 // "ErrorRollOver": too many keys down, the report says nothing
	usageEnter     = 0x28
	usageEscape    = 0x29
	usageBackspace = 0x2A
	usageTab       = 0x2B
	usageCapsLock  = 0x39
	usageKPEnter   = 0x58
)

// Errors of one report. Both leave the decoder's state as it was, so the
// next good report decodes normally.
var (
	ErrReportLength = errors.New("keyboard: not an 8-byte boot report")
	ErrRollOver     = errors.New("keyboard: rollover error report")
)

// Special says what a key is when it is not a character.
type Special uint8

const (
	None Special = iota
	Enter
	Tab
	Backspace
	Escape
	CapsLock // toggles upper case for letters; nothing is typed
)

// Key is one key press.
type Key struct {
	Usage   byte    // the HID usage code
	Rune    rune    // the character typed; 0 for a Special key or an unmapped key
	Special Special // Enter, Tab, ... (Rune is then 0)
}

// Unmapped is true for a key the layout has no character for (F1, arrows,
// a key the layout leaves empty): the device typed something we cannot
// name.
func (k Key) Unmapped() bool { return k.Rune == 0 && k.Special == None }

// Layout maps usage codes to characters for one keyboard layout.
type Layout struct {
	Name string
	Doc  string
	// keys[usage] = {plain, shift, altgr, altgr+shift}; 0 = no character.
	keys map[byte][4]rune
	// caps lists the usages CapsLock acts on (letters): Caps swaps plain
	// and shift for them only, as on a real keyboard.
	caps map[byte]bool
}

// Rune is the character of usage with the given shift/AltGr state.
func (l *Layout) Rune(usage byte, shift, altgr bool) rune {
	k, ok := l.keys[usage]
	if !ok {
		return 0
	}
	i := 0
	if shift {
		i |= 1
	}
	if altgr {
		i |= 2
	}
	return k[i]
}

// Lookup returns a layout by name ("us", "de", "ru"), built afresh.
func Lookup(name string) (*Layout, error) {
	switch strings.ToLower(name) {
	case "us":
		return US(), nil
	case "de":
		return DE(), nil
	case "ru":
		return RU(), nil
	}
	return nil, fmt.Errorf("unknown keyboard layout %q (known: %s)", name, strings.Join(Names(), ", "))
}

// Names lists the known layouts.
func Names() []string { return []string{"de", "ru", "us"} }

// Decoder turns a sequence of boot reports into key presses. It keeps the
// keys held in the previous report and the CapsLock toggle.
type Decoder struct {
	Layout *Layout
	prev   [6]byte
	caps   bool
}

// NewDecoder returns a decoder for layout l.
func NewDecoder(l *Layout) *Decoder { return &Decoder{Layout: l} }

// Feed decodes one input report and calls press for every newly pressed
// key, in report order. A report that is not 8 bytes, or that signals a
// rollover error, is rejected and changes nothing.
func (d *Decoder) Feed(report []byte, press func(Key)) error {
	if len(report) != ReportLen {
		return ErrReportLength
	}
	keys := report[2:8]
	for _, k := range keys {
		if k == usageRollOver {
			return ErrRollOver
		}
	}
	mod := report[0]
	shift := mod&(modLShift|modRShift) != 0
	// AltGr is right Alt; Ctrl+Alt is its usual equivalent.
	altgr := mod&modRAlt != 0 || (mod&(modLCtrl|modRCtrl) != 0 && mod&modLAlt != 0)
	for _, k := range keys {
		if k == 0 || d.held(k) {
			continue
		}
		press(d.key(k, shift, altgr))
	}
	copy(d.prev[:], keys)
	return nil
}

func (d *Decoder) held(k byte) bool {
	for _, p := range d.prev {
		if p == k {
			return true
		}
	}
	return false
}

func (d *Decoder) key(u byte, shift, altgr bool) Key {
	switch u {
	case usageEnter, usageKPEnter:
		return Key{Usage: u, Special: Enter}
	case usageTab:
		return Key{Usage: u, Special: Tab}
	case usageBackspace:
		return Key{Usage: u, Special: Backspace}
	case usageEscape:
		return Key{Usage: u, Special: Escape}
	case usageCapsLock:
		// Some wedge readers force upper case by toggling CapsLock
		// instead of holding Shift; the host owns the toggle, so do we.
		d.caps = !d.caps
		return Key{Usage: u, Special: CapsLock}
	}
	if d.caps && d.Layout.caps[u] {
		shift = !shift
	}
	return Key{Usage: u, Rune: d.Layout.Rune(u, shift, altgr)}
}

// Reset forgets held keys and CapsLock (a device replugged).
func (d *Decoder) Reset() { d.prev, d.caps = [6]byte{}, false }
