// Package framing cuts what a passport reader sends into MRZ rows and
// blocks. A reader is one of three serial framings (vendors keep their host
// protocols private, so the framing is configured per device):
//
//   - line: each row ends in CR, LF or CR LF (frame_line.go);
//   - stx: STX rows ETX blocks, optional start/end-of-data bytes (frame_stx.go);
//   - 3m: length-prefixed blocks with a block check byte (frame_3m.go).
//
// The keyboard wedge is framed by internal/keyboard; its rows join the
// line rows in the driver.
package framing

import "time"

// A Framer cuts a reader's byte stream into units. It is pure (bytes and
// times in, units out) so each framing can be fuzzed and benchmarked on
// its own; the driver owns the port, the clock and the row assembler.
//
// Every framer follows the same rules: bytes that are not part of a frame
// are counted (never fatal, never an error), a frame that stops arriving
// for longer than idle is torn and counted, and what a frame held is never
// logged or counted by content.
type Framer interface {
	// Feed takes bytes that arrived at time at and appends the units they
	// completed to dst.
	Feed(dst []Unit, b []byte, at time.Time) []Unit
	// Expire tears a partial frame whose last byte is older than idle.
	Expire(dst []Unit, now time.Time) []Unit
	// End is the end of the stream: a partial frame is torn (a line
	// framer returns a last line without its terminator as a line).
	End(dst []Unit) []Unit
}

// Unit is what a framer produced.
type Unit struct {
	Rows []string
	At   time.Time // arrival of the frame's first byte
	End  time.Time // arrival of its last byte (line rows)
	// Block is true when Rows are one whole transmission (stx, 3m): a
	// complete document, or a failed read. Line and wedge rows are single
	// rows that the assembler (package mrzrow) groups into documents.
	Block bool
	// Fail is set for a block that is a failed read ("incomplete",
	// "block_check"); Rows may hold what was read before it failed.
	Fail string
}

// Counter is told about discarded input by a stable name.
type Counter func(what string, n int)

func (c Counter) add(what string, n int) {
	if c != nil && n > 0 {
		c(what, n)
	}
}
