package passport

import (
	"bytes"
	"time"
)

// lineFramer is line mode: each MRZ row ends in CR, LF or CR LF (lineEnd
// "any"), or only in the one terminator a reader is configured for ("cr",
// "lf", "crlf"; other bytes then stay in the line, which then has no row
// length and counts as noise). Every line is a unit of one row; lines that
// cannot be a row are counted as lines_noise.
//
// Hand-written rather than internal/framing.Lines because the driver needs
// a pure framer it can fuzz and tick: a torn partial row must be noticed
// when the port is quiet, without a read returning a line.
type lineFramer struct {
	term   []byte // the terminator; nil = any of CR, LF, CR LF
	idle   time.Duration
	maxLen int
	count  counter

	buf  []byte
	at   time.Time // first byte of buf
	last time.Time // last byte of buf
	skip bool      // inside an over-long line: drop up to its end
}

func newLineFramer(lineEnd string, idle time.Duration, c counter) *lineFramer {
	f := &lineFramer{idle: idle, maxLen: 128, count: c}
	switch lineEnd {
	case "cr":
		f.term = []byte("\r")
	case "lf":
		f.term = []byte("\n")
	case "crlf":
		f.term = []byte("\r\n")
	}
	return f
}

func (f *lineFramer) feed(dst []unit, b []byte, at time.Time) []unit {
	for len(b) > 0 {
		i, n := f.index(b)
		if i < 0 {
			f.take(b, at)
			return dst
		}
		f.take(b[:i], at)
		dst = f.line(dst, at)
		b = b[i+n:]
	}
	return dst
}

// index finds the next terminator in b: its position and length.
func (f *lineFramer) index(b []byte) (int, int) {
	if f.term != nil {
		if len(f.term) == 2 && len(f.buf) > 0 && f.buf[len(f.buf)-1] == '\r' && b[0] == '\n' {
			// CR LF split across two reads.
			f.buf = f.buf[:len(f.buf)-1]
			return 0, 1
		}
		return bytes.Index(b, f.term), len(f.term)
	}
	// Any terminator: CR LF counts as one; a lone LF after a CR that ended
	// the previous read gives an empty line, which is skipped.
	i := bytes.IndexAny(b, "\r\n")
	if i >= 0 && b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n' {
		return i, 2
	}
	return i, 1
}

func (f *lineFramer) take(b []byte, at time.Time) {
	if len(b) == 0 {
		return
	}
	if f.skip {
		f.count.add("bytes_overlong", len(b))
		return
	}
	if len(f.buf) == 0 {
		f.at = at
	}
	f.last = at
	f.buf = append(f.buf, b...)
	if len(f.buf) > f.maxLen {
		f.count.add("bytes_overlong", len(f.buf))
		f.buf = f.buf[:0]
		f.skip = true
	}
}

// line ends the current line; its terminator arrived at end.
func (f *lineFramer) line(dst []unit, end time.Time) []unit {
	f.skip = false
	if len(f.buf) == 0 {
		return dst
	}
	defer func() { f.buf = f.buf[:0] }()
	if !mrzRow(f.buf) {
		f.count.add("lines_noise", 1)
		return dst
	}
	return append(dst, unit{rows: []string{string(f.buf)}, at: f.at, end: end})
}

func (f *lineFramer) expire(dst []unit, now time.Time) []unit {
	if len(f.buf) > 0 && now.Sub(f.last) > f.idle {
		f.count.add("bytes_torn", len(f.buf))
		f.buf = f.buf[:0]
	}
	return dst
}

// end: a stream that ends without a final terminator (a file given to
// hwtest decode) still ends its last line.
func (f *lineFramer) end(dst []unit) []unit { return f.line(dst, f.last) }
