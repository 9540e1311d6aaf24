package framing

import (
	"bytes"
	"time"

	"github.com/kordon/kordon/drivers/passport/mrzrow"
)

// lineFramer is line mode: each MRZ row ends in CR, LF or CR LF (lineEnd
// "any"), or only in the one terminator a reader is configured for ("cr",
// "lf", "crlf"; other bytes then stay in the line, which then has no row
// length and counts as noise). Every line is a Unit of one row; lines that
// cannot be a row are counted as lines_noise.
//
// Hand-written rather than internal/framing.Lines because the driver needs
// a pure Framer it can fuzz and tick: a torn partial row must be noticed
// when the port is quiet, without a read returning a line.
type lineFramer struct {
	term   []byte // the terminator; nil = any of CR, LF, CR LF
	idle   time.Duration
	maxLen int
	count  Counter

	buf  []byte
	at   time.Time // first byte of buf
	last time.Time // last byte of buf (or of the over-long line being dropped)
	skip bool      // inside an over-long line: drop up to its end
	// tail keeps the last bytes of an over-long line: a row that came
	// right after unterminated noise is its end, and is kept.
	tail []byte
}

// resyncGap is the pause that ends an over-long line even without a
// terminator: a reader sends a row in one burst, line noise is not
// followed by a pause and then more of the same line.
const resyncGap = 100 * time.Millisecond

// tailLen is the longest row (a whole one-line document) kept from the end
// of an over-long line.
const tailLen = 90

func NewLine(lineEnd string, idle time.Duration, c Counter) Framer {
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

func (f *lineFramer) Feed(dst []Unit, b []byte, at time.Time) []Unit {
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
	if f.skip && at.Sub(f.last) >= resyncGap {
		// The noise ended with a pause: what comes now is a new line.
		f.skip, f.tail = false, f.tail[:0]
	}
	if f.skip {
		f.count.add("bytes_overlong", len(b))
		f.keepTail(b)
		f.last = at
		return
	}
	if len(f.buf) == 0 {
		f.at = at
	}
	f.last = at
	f.buf = append(f.buf, b...)
	if len(f.buf) > f.maxLen {
		f.count.add("bytes_overlong", len(f.buf))
		f.tail = f.tail[:0]
		f.keepTail(f.buf)
		f.buf = f.buf[:0]
		f.skip = true
	}
}

func (f *lineFramer) keepTail(b []byte) {
	f.tail = append(f.tail, b...)
	if n := len(f.tail); n > tailLen {
		f.tail = append(f.tail[:0], f.tail[n-tailLen:]...)
	}
}

// rowAtEnd is the MRZ row an over-long line ends with, if any: the
// longest row length whose last characters are MRZ characters forming a
// first row, or exactly a row (nothing MRZ-like before it).
func rowAtEnd(tail []byte) []byte {
	run := 0
	for run < len(tail) && mrzrow.Chars(tail[len(tail)-run-1:len(tail)-run]) {
		run++
	}
	for _, n := range []int{90, 88, 72, 44, 36, 30} {
		if run < n {
			continue
		}
		r := tail[len(tail)-n:]
		if _, ok := mrzrow.SplitOneLine(r); ok || run == n || mrzrow.First(string(r)) {
			return r
		}
	}
	return nil
}

// line ends the current line; its terminator arrived at end.
func (f *lineFramer) line(dst []Unit, end time.Time) []Unit {
	if f.skip {
		f.skip = false
		r := rowAtEnd(mrzrow.Trim(f.tail))
		f.tail = f.tail[:0]
		if r == nil {
			return dst
		}
		f.buf, f.at = append(f.buf[:0], r...), end
	}
	if len(f.buf) == 0 {
		return dst
	}
	defer func() { f.buf = f.buf[:0] }()
	b := mrzrow.Trim(f.buf)
	if rows, ok := mrzrow.SplitOneLine(b); ok {
		return append(dst, Unit{Rows: rows, At: f.at, End: end, Block: true})
	}
	if !mrzrow.Plausible(b) {
		f.count.add("lines_noise", 1)
		return dst
	}
	return append(dst, Unit{Rows: []string{string(b)}, At: f.at, End: end})
}

func (f *lineFramer) Expire(dst []Unit, now time.Time) []Unit {
	if len(f.buf) > 0 && now.Sub(f.last) > f.idle {
		f.count.add("bytes_torn", len(f.buf))
		f.buf = f.buf[:0]
	}
	if f.skip && now.Sub(f.last) > f.idle {
		f.skip, f.tail = false, f.tail[:0]
	}
	return dst
}

// end: a stream that ends without a final terminator (a file given to
// hwtest decode) still ends its last line.
func (f *lineFramer) End(dst []Unit) []Unit { return f.line(dst, f.last) }
