package framing

import (
	"time"

	"github.com/kordon/kordon/drivers/passport/mrzrow"
)

// STX and ETX start and end a block (stx, 3m); a reader's start and end
// bytes must differ from them.
const (
	STX = 0x02
	ETX = 0x03

	soh = 0x01 // starts a 3m block
)

// stxFramer reads STX/ETX blocks: STX row CR row CR [row CR] ETX, one
// document per block (LF or CR LF between rows are accepted too). Some
// readers (DESKO "CUTE" style) put a start-of-data byte before STX and an
// end-of-data byte after ETX; when configured they are expected and not
// counted as noise, but a block without them is still taken.
//
// Bytes outside a block are bytes_noise. A block that stops arriving for
// idle is torn: if it already held a whole MRZ row the reader was sending
// a document, so it becomes an "incomplete" failed read the officer sees;
// otherwise it is counted as blocks_torn. A block longer than any MRZ is
// bytes_overlong.
type stxFramer struct {
	startByte, endByte int // start/end-of-data bytes, -1 = none
	idle               time.Duration
	count              Counter

	in   bool // inside a block (after STX)
	buf  []byte
	at   time.Time // first byte of the block (its start-of-data byte, if any)
	last time.Time
	sod  time.Time // when a start-of-data byte was seen, zero if not pending
}

// MaxBlock is more than three rows of 44 with CR LF and a few spare bytes.
const MaxBlock = 3*46 + 16

func NewSTX(start, end int, idle time.Duration, c Counter) Framer {
	return &stxFramer{startByte: start, endByte: end, idle: idle, count: c}
}

func (f *stxFramer) Feed(dst []Unit, b []byte, at time.Time) []Unit {
	for _, c := range b {
		if !f.in {
			switch {
			case c == STX:
				f.in, f.buf, f.at, f.last = true, f.buf[:0], at, at
				if !f.sod.IsZero() {
					f.at = f.sod
				}
				f.sod = time.Time{}
			case f.startByte >= 0 && int(c) == f.startByte:
				f.sod = at
			case f.endByte >= 0 && int(c) == f.endByte:
				// the end-of-data byte after a block
			default:
				f.count.add("bytes_noise", 1)
				f.sod = time.Time{}
			}
			continue
		}
		f.last = at
		switch c {
		case ETX:
			dst = f.block(dst, "")
		case STX:
			// A new block before the old one ended: the old one is torn.
			dst = f.tear(dst)
			f.in, f.buf, f.at = true, f.buf[:0], at
		default:
			if len(f.buf) >= MaxBlock {
				f.count.add("bytes_overlong", len(f.buf)+1)
				f.in, f.buf = false, f.buf[:0]
				continue
			}
			f.buf = append(f.buf, c)
		}
	}
	return dst
}

// block ends the block in buf; fail is "" for a block ended by ETX.
func (f *stxFramer) block(dst []Unit, fail string) []Unit {
	f.in = false
	rows := splitRows(f.buf, fail != "")
	f.buf = f.buf[:0]
	if len(rows) == 0 {
		f.count.add("blocks_empty", 1)
		return dst
	}
	return append(dst, Unit{Rows: rows, At: f.at, Block: true, Fail: fail})
}

// tear ends a block that will not be finished.
func (f *stxFramer) tear(dst []Unit) []Unit {
	for _, r := range splitRows(f.buf, true) {
		if mrzrow.Plausible([]byte(r)) {
			return f.block(dst, "incomplete")
		}
	}
	f.count.add("blocks_torn", 1)
	f.in, f.buf = false, f.buf[:0]
	return dst
}

func (f *stxFramer) Expire(dst []Unit, now time.Time) []Unit {
	if f.in && now.Sub(f.last) > f.idle {
		return f.tear(dst)
	}
	return dst
}

func (f *stxFramer) End(dst []Unit) []Unit {
	if f.in {
		return f.tear(dst)
	}
	return dst
}

// splitRows splits a block's text at CR, LF or CR LF and drops empty rows.
// With whole set, only rows followed by a terminator are kept (a torn
// block's last row may be cut short).
func splitRows(b []byte, whole bool) []string {
	var rows []string
	start := 0
	for i, c := range b {
		if c == '\r' || c == '\n' {
			if i > start {
				rows = append(rows, string(b[start:i]))
			}
			start = i + 1
		}
	}
	if start < len(b) && !whole {
		rows = append(rows, string(b[start:]))
	}
	return rows
}
