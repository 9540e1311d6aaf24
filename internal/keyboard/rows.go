package keyboard

import (
	"time"
	"unicode/utf8"
)

// Row is one line a wedge device typed, ended by Enter.
type Row struct {
	Text string
	At   time.Time // when its first key arrived
	End  time.Time // when its Enter arrived
	// Unmapped counts keys the layout has no character for; each stands in
	// Text as utf8.RuneError so positions after it stay where they were.
	Unmapped int
}

// Rows assembles key presses into rows ended by Enter. Tab, Escape and
// CapsLock type nothing; Backspace removes the last character (a device
// that corrects itself is rare, but a person at a booth keyboard is not).
type Rows struct {
	Decoder *Decoder
	// MaxLen bounds a row in characters; longer input is cut there and the
	// rest of the row, up to Enter, is dropped and counted (default 256).
	MaxLen int
	// Count, if set, is told about discarded input by a stable name:
	// "reports_bad" (not a boot report, rollover), "chars_overlong".
	Count func(what string, n int)

	buf      []rune
	at       time.Time // first key of the row
	last     time.Time // latest key of the row
	unmapped int
	over     int
}

// NewRows returns a row assembler for layout l.
func NewRows(l *Layout) *Rows { return &Rows{Decoder: NewDecoder(l)} }

// Feed decodes one report that arrived at time at and returns the rows it
// completed (usually none, at most a few).
func (r *Rows) Feed(report []byte, at time.Time) []Row {
	var out []Row
	err := r.Decoder.Feed(report, func(k Key) {
		r.last = at
		switch k.Special {
		case Enter:
			if len(r.buf) > 0 {
				out = append(out, Row{Text: string(r.buf), At: r.at, End: at, Unmapped: r.unmapped})
			}
			r.flushOver()
			r.buf, r.unmapped = r.buf[:0], 0
			return
		case Backspace:
			if len(r.buf) > 0 {
				if r.buf[len(r.buf)-1] == utf8.RuneError {
					r.unmapped--
				}
				r.buf = r.buf[:len(r.buf)-1]
			}
			return
		case Tab, Escape, CapsLock:
			return
		}
		c := k.Rune
		if k.Unmapped() {
			c = utf8.RuneError
		}
		if r.MaxLen == 0 {
			r.MaxLen = 256
		}
		if len(r.buf) >= r.MaxLen {
			r.over++
			return
		}
		if len(r.buf) == 0 {
			r.at = at
		}
		if c == utf8.RuneError {
			r.unmapped++
		}
		r.buf = append(r.buf, c)
	})
	if err != nil && r.Count != nil {
		r.Count("reports_bad", 1)
	}
	return out
}

// Pending is how many characters of an unfinished row are held, and when
// the latest key arrived (a row quiet for long is torn).
func (r *Rows) Pending() (int, time.Time) { return len(r.buf), r.last }

// Drop discards an unfinished row (its device went quiet) and returns how
// many characters it held.
func (r *Rows) Drop() int {
	n := len(r.buf)
	r.buf, r.unmapped = r.buf[:0], 0
	r.flushOver()
	return n
}

func (r *Rows) flushOver() {
	if r.over > 0 && r.Count != nil {
		r.Count("chars_overlong", r.over)
	}
	r.over = 0
}
