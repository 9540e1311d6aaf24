// Package framing cuts a device's byte stream into frames, stamping each with
// the time its first byte arrived (not when it was complete or published).
package framing

import (
	"bytes"
	"context"
	"errors"
	"io"
	"time"

	"github.com/kordon/kordon/internal/transport"
)

// Frame is one unit of a device's output.
type Frame struct {
	Data []byte
	At   time.Time // arrival of the first byte
}

// Lines reads lines ending in CR, LF or CR LF. Empty lines are skipped.
type Lines struct {
	Port   transport.Port
	Now    func() time.Time
	MaxLen int           // longer lines are noise (default 512)
	Idle   time.Duration // a partial line quiet this long is torn (default 1 s)
	// Torn is told how many bytes a torn or over-long line dropped.
	Torn func(reason string, n int)

	buf   []byte
	at    time.Time
	last  time.Time
	chunk []byte
	drop  bool // inside an over-long line: discard up to its end or a pause
}

// poll is how often a blocked read wakes to check ctx and torn lines.
const poll = 100 * time.Millisecond

// resyncGap ends an over-long line without a terminator: devices send a
// line in one burst, so bytes after a pause this long start a new line
// (otherwise the first good line after unterminated noise would be
// dropped with the noise's end).
const resyncGap = 100 * time.Millisecond

// Next returns the next complete line (without its terminator).
func (l *Lines) Next(ctx context.Context) (Frame, error) {
	if l.chunk == nil {
		l.chunk = make([]byte, 1024)
		if l.MaxLen == 0 {
			l.MaxLen = 512
		}
		if l.Idle == 0 {
			l.Idle = time.Second
		}
		if l.Now == nil {
			l.Now = time.Now
		}
		if err := l.Port.SetReadTimeout(poll); err != nil {
			return Frame{}, err
		}
	}
	for {
		if f, ok := l.cut(); ok {
			return f, nil
		}
		if err := ctx.Err(); err != nil {
			return Frame{}, err
		}
		n, err := l.Port.Read(l.chunk)
		now := l.Now()
		if n > 0 {
			if l.drop && now.Sub(l.last) >= min(resyncGap, l.Idle) {
				// The over-long line ended with a pause.
				l.torn("overlong", len(l.buf))
				l.buf = l.buf[:0]
				l.drop = false
			}
			if len(l.buf) == 0 {
				l.at = now
			}
			l.buf = append(l.buf, l.chunk[:n]...)
			l.last = now
		} else if len(l.buf) > 0 && now.Sub(l.last) >= l.Idle {
			if l.drop {
				l.torn("overlong", len(l.buf))
			} else {
				l.torn("torn", len(l.buf))
			}
			l.buf = l.buf[:0]
			l.drop = false
		} else if l.drop && now.Sub(l.last) >= l.Idle {
			l.drop = false
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(l.buf) > 0 {
				// The stream ended mid-line: what is there is still a line
				// (hwtest decode of a file without a final newline).
				f := Frame{Data: append([]byte(nil), l.buf...), At: l.at}
				l.buf = l.buf[:0]
				return f, nil
			}
			return Frame{}, err
		}
	}
}

func (l *Lines) cut() (Frame, bool) {
	for {
		i := bytes.IndexAny(l.buf, "\r\n")
		if i < 0 {
			if len(l.buf) > l.MaxLen {
				l.torn("overlong", len(l.buf))
				l.buf = l.buf[:0]
				l.drop = true
			}
			return Frame{}, false
		}
		line := l.buf[:i]
		rest := l.buf[i+1:]
		if l.buf[i] == '\r' && len(rest) > 0 && rest[0] == '\n' {
			rest = rest[1:]
		}
		f := Frame{Data: append([]byte(nil), line...), At: l.at}
		l.buf = append(l.buf[:0], rest...)
		if len(l.buf) > 0 {
			// Bytes after the terminator arrived in the same read.
			l.at = l.last
		}
		dropping := l.drop
		l.drop = false
		switch {
		case dropping:
			l.torn("overlong", len(line))
		case len(line) > l.MaxLen:
			l.torn("overlong", len(line))
		case len(line) > 0:
			return f, true
		}
	}
}

func (l *Lines) torn(reason string, n int) {
	if l.Torn != nil && n > 0 {
		l.Torn(reason, n)
	}
}
