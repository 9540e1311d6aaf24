package framing

import (
	"bytes"
	"time"
)

// nativeFramer reads length-prefixed blocks in the style of the 3M (RTE)
// "native" protocol:
//
//	SOH len-lo len-hi 'O' 'U' STX flag l1 CR l2 CR l3 CR ETX BCC
//
// The vendor's document is not public; this is our reading of the public
// descriptions, pinned by the traces in testdata:
//
//   - len (little endian) counts the bytes from 'O' through ETX;
//   - BCC is the XOR of every byte from len-lo through ETX;
//   - rows are padded with '_' to a fixed width (trailing '_' are removed);
//   - the bottom MRZ row is always last, so a 2-row document leaves l1
//     empty; the flag byte is kept out of the rows and not interpreted.
//
// Bytes before SOH are bytes_noise. A header that cannot be a block (a
// length out of range, no "OU" STX, no ETX where the length says) counts as
// blocks_bad_header and the scan resumes at the byte after that SOH, so a
// noise byte that happens to be SOH cannot swallow the real block after it.
// A well-formed block whose BCC is wrong is a failed read ("block_check"):
// the reader did send a document, so the officer must present it again.
type nativeFramer struct {
	idle  time.Duration
	count Counter

	buf  []byte
	at   time.Time // arrival of buf[0] (a SOH)
	last time.Time
}

const (
	nativeMinLen = 3 + 1 + 3 + 1 // "OU" STX flag, three CR, ETX
	nativeMaxLen = 3 + 1 + 3*(44+1) + 1 + 16
)

func New3M(idle time.Duration, c Counter) Framer {
	return &nativeFramer{idle: idle, count: c}
}

func (f *nativeFramer) Feed(dst []Unit, b []byte, at time.Time) []Unit {
	if len(b) == 0 {
		return dst
	}
	if len(f.buf) == 0 {
		// Hunting: skip to the next SOH.
		i := bytes.IndexByte(b, soh)
		if i < 0 {
			f.count.add("bytes_noise", len(b))
			return dst
		}
		f.count.add("bytes_noise", i)
		b = b[i:]
		f.at = at
	}
	f.last = at
	f.buf = append(f.buf, b...)
	return f.scan(dst, at)
}

// scan takes every complete block off the front of buf.
func (f *nativeFramer) scan(dst []Unit, at time.Time) []Unit {
	for len(f.buf) > 0 {
		if f.buf[0] != soh {
			i := bytes.IndexByte(f.buf, soh)
			if i < 0 {
				f.count.add("bytes_noise", len(f.buf))
				f.buf = f.buf[:0]
				return dst
			}
			f.count.add("bytes_noise", i)
			f.buf = f.buf[i:]
			// A block starting inside an earlier read: its first byte came
			// no later than now.
			f.at = at
		}
		if len(f.buf) < 3 {
			return dst
		}
		n := int(f.buf[1]) | int(f.buf[2])<<8
		if n < nativeMinLen || n > nativeMaxLen {
			f.resync()
			continue
		}
		if len(f.buf) < 3+n+1 {
			if len(f.buf) >= 6 && !bytes.Equal(f.buf[3:6], []byte{'O', 'U', STX}) {
				f.resync()
				continue
			}
			return dst
		}
		body := f.buf[3 : 3+n]
		if !bytes.Equal(body[:3], []byte{'O', 'U', STX}) || body[n-1] != ETX {
			f.resync()
			continue
		}
		var bcc byte
		for _, c := range f.buf[1 : 3+n] {
			bcc ^= c
		}
		u := Unit{At: f.at, Block: true}
		if bcc != f.buf[3+n] {
			u.Fail = "block_check"
		} else {
			u.Rows = nativeRows(body[4 : n-1])
		}
		f.buf = f.buf[3+n+1:]
		f.at = at
		if u.Fail == "" && len(u.Rows) == 0 {
			f.count.add("blocks_empty", 1)
			continue
		}
		dst = append(dst, u)
	}
	return dst
}

// resync drops the SOH at buf[0] (counted as a bad header) so the scan
// resumes at the next byte.
func (f *nativeFramer) resync() {
	f.count.add("blocks_bad_header", 1)
	f.buf = f.buf[1:]
}

// nativeRows splits l1 CR l2 CR l3 CR into rows without their '_' padding,
// leaving out empty ones (line 1 of a 2-row document).
func nativeRows(text []byte) []string {
	var rows []string
	for _, r := range bytes.Split(text, []byte{'\r'}) {
		r = bytes.TrimRight(r, "_")
		if len(r) > 0 {
			rows = append(rows, string(r))
		}
	}
	return rows
}

func (f *nativeFramer) Expire(dst []Unit, now time.Time) []Unit {
	if len(f.buf) > 0 && now.Sub(f.last) > f.idle {
		return f.End(dst)
	}
	return dst
}

// end tears a partial block. A block whose header was sound was a read in
// progress: an "incomplete" failed read. Anything else is counted.
func (f *nativeFramer) End(dst []Unit) []Unit {
	if len(f.buf) == 0 {
		return dst
	}
	sound := len(f.buf) >= 6 && bytes.Equal(f.buf[3:6], []byte{'O', 'U', STX})
	at := f.at
	f.count.add("blocks_torn", 1)
	f.buf = f.buf[:0]
	if sound {
		return append(dst, Unit{At: at, Block: true, Fail: "incomplete", Rows: []string{}})
	}
	return dst
}
