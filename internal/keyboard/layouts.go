package keyboard

import "unicode"

// The tables follow the HID Usage Tables (keyboard page 0x07) and the
// layouts' standard engravings. Dead keys (German ´ ` ^) are taken as the
// character itself: a wedge device never composes accents.

// US is the default: what almost every wedge device types unless told
// otherwise.
func US() *Layout {
	l := newLayout("us", "US English (QWERTY); MRZ '<' is Shift+comma")
	l.letters("abcdefghijklmnopqrstuvwxyz")
	l.row(0x1E, "1234567890", "!@#$%^&*()")
	l.row(0x2D, "-=[]\\#;'`,./", "_+{}|~:\"~<>?")
	l.set(0x64, '\\', '|') // the ISO key left of Z, where a keyboard has one
	l.keypad('.')
	return l
}

// DE is German QWERTZ: Y and Z are swapped and '<' has its own key (usage
// 0x64, left of Y), so a reader set to German typing MRZ fillers sends a
// different key than a US one.
func DE() *Layout {
	l := newLayout("de", "German (QWERTZ); MRZ '<' is the key left of Y, Y and Z swapped")
	l.letters("abcdefghijklmnopqrstuvwxzy") // usage 0x1C is Z, 0x1D is Y
	l.row(0x1E, "1234567890", "!\"§$%&/()=")
	l.row(0x2D, "ß´ü+##öä^,.-", "?`Ü*''ÖÄ°;:_")
	l.set(0x64, '<', '>')
	l.keypad(',')
	for u, r := range map[byte]rune{0x14: '@', 0x08: '€', 0x10: 'µ', 0x1F: '²', 0x20: '³',
		0x24: '{', 0x25: '[', 0x26: ']', 0x27: '}', 0x2D: '\\', 0x30: '~', 0x64: '|'} {
		k := l.keys[u]
		k[2] = r
		l.keys[u] = k
	}
	return l
}

// RU is Russian ЙЦУКЕН. It types Cyrillic letters: a passport reader set to
// it cannot type a Latin MRZ at all. It exists for wedge devices whose data
// is Cyrillic text (and to tell a misconfigured reader from noise). A
// booth PC whose operating system layout is Russian does not matter here:
// the box reads key positions, so a reader left on its US setting is
// decoded with "us".
func RU() *Layout {
	l := newLayout("ru", "Russian (ЙЦУКЕН); types Cyrillic, not usable for a Latin MRZ")
	keys := "qwertyuiop[]asdfghjkl;'zxcvbnm,.`"
	us := US()
	ru := []rune("йцукенгшщзхъфывапролджэячсмитьбюё")
	for i, c := range keys {
		u := us.usageOf(c)
		l.set(u, ru[i], unicode.ToUpper(ru[i]))
		l.caps[u] = true
	}
	l.row(0x1E, "1234567890", "!\"№;%:?*()")
	l.set(0x2D, '-', '_')
	l.set(0x2E, '=', '+')
	l.set(0x31, '\\', '/')
	l.set(0x38, '.', ',')
	l.set(0x64, '\\', '/')
	l.keypad(',')
	return l
}

func newLayout(name, doc string) *Layout {
	l := &Layout{Name: name, Doc: doc, keys: map[byte][4]rune{}, caps: map[byte]bool{}}
	l.set(0x2C, ' ', ' ')
	return l
}

// letters maps usages 0x04.. to the given lower-case letters, Shift to
// upper case, and lets CapsLock act on them.
func (l *Layout) letters(s string) {
	for i, c := range []rune(s) {
		u := byte(0x04 + i)
		l.set(u, c, unicode.ToUpper(c))
		l.caps[u] = true
	}
}

func (l *Layout) row(start byte, plain, shift string) {
	p, s := []rune(plain), []rune(shift)
	for i := range p {
		l.set(start+byte(i), p[i], s[i])
	}
}

func (l *Layout) set(u byte, plain, shift rune) {
	k := l.keys[u]
	k[0], k[1] = plain, shift
	l.keys[u] = k
}

// keypad maps the numeric keypad; some readers type digits there. Num Lock
// is the host's state and a wedge device expects it on, so keypad digits
// are digits.
func (l *Layout) keypad(decimal rune) {
	for u, r := range map[byte]rune{0x54: '/', 0x55: '*', 0x56: '-', 0x57: '+', 0x62: '0', 0x63: decimal, 0x67: '='} {
		l.set(u, r, r)
	}
	for i := 0; i < 9; i++ {
		l.set(byte(0x59+i), rune('1'+i), rune('1'+i))
	}
}

// usageOf finds the usage typing c without modifiers.
func (l *Layout) usageOf(c rune) byte {
	for u, k := range l.keys {
		if k[0] == c {
			return u
		}
	}
	panic("keyboard: no usage for " + string(c))
}

// Encode returns the key presses (usage, shift) that type s on layout l,
// for tests and simulators: the inverse of decoding. ok is false when a
// character cannot be typed.
func (l *Layout) Encode(s string) (keys []Press, ok bool) {
	for _, c := range s {
		switch c {
		case '\r', '\n':
			keys = append(keys, Press{Usage: usageEnter})
			continue
		case '\t':
			keys = append(keys, Press{Usage: usageTab})
			continue
		}
		p, found := l.find(c)
		if !found {
			return nil, false
		}
		keys = append(keys, p)
	}
	return keys, true
}

// Press is one key with its modifier state, as a device would send it.
type Press struct {
	Usage byte
	Shift bool
	AltGr bool
}

func (l *Layout) find(c rune) (Press, bool) {
	best := Press{}
	found := false
	// Lowest usage first, so the main block wins over the keypad and the
	// result is the same on every run.
	for u := 0; u < 256; u++ {
		k, ok := l.keys[byte(u)]
		if !ok {
			continue
		}
		for i, r := range k {
			if r == c && r != 0 {
				p := Press{Usage: byte(u), Shift: i&1 != 0, AltGr: i&2 != 0}
				if !found {
					best, found = p, true
				}
			}
		}
	}
	return best, found
}

// Reports turns presses into boot reports, each press followed by a
// release, the way wedge devices type.
func Reports(presses []Press) [][]byte {
	out := make([][]byte, 0, 2*len(presses))
	for _, p := range presses {
		var mod byte
		if p.Shift {
			mod |= modLShift
		}
		if p.AltGr {
			mod |= modRAlt
		}
		out = append(out, []byte{mod, 0, p.Usage, 0, 0, 0, 0, 0}, make([]byte, ReportLen))
	}
	return out
}
