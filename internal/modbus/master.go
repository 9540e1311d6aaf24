package modbus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kordon/kordon/internal/transport"
)

// Master owns one RS-485 port and asks its slaves one request at a time.
// Its methods are safe for concurrent use: callers queue on the port.
type Master struct {
	Port transport.Port
	// Baud sets the silent interval (3.5 characters) kept between frames.
	Baud int
	// ReplyDelay is how long the slave takes before it starts answering
	// (about 20 ms for pyrometers); Timeout is counted after it.
	ReplyDelay time.Duration
	// Timeout is how long to wait, after ReplyDelay, for a reply to begin.
	Timeout time.Duration
	// Gap is the longest silence inside a reply. USB RS-485 adapters hand
	// bytes over in chunks (FTDI's latency timer is 16 ms), so it is far
	// above the 1.5 characters RTU specifies. Default 50 ms.
	Gap time.Duration
	// Retries is how many times a request is asked again after a timeout,
	// a bad frame or a "busy" exception.
	Retries int
	// Now stamps the first byte of each reply; nil means time.Now.
	Now func() time.Time
	// Count records discarded input and retries by a short stable name.
	Count func(what string, n int)

	mu       sync.Mutex
	lastBusy time.Time // when the bus last carried a frame
	buf      [MaxFrame]byte
}

// Reply is a slave's answer.
type Reply struct {
	Registers []uint16
	At        time.Time // when its first byte arrived
	Frame     []byte    // the frame as received
	Attempts  int
}

// PortError is a failure of the port itself (the adapter vanished): the
// caller should reopen rather than retry.
type PortError struct{ Err error }

func (e *PortError) Error() string { return "modbus: port: " + e.Err.Error() }
func (e *PortError) Unwrap() error { return e.Err }

// readSlice bounds one blocking read so ctx is noticed promptly.
const readSlice = 100 * time.Millisecond

// Read asks for registers, retrying as configured, and returns the reply or
// the last error: ErrTimeout, *FrameError, *ExceptionError, *PortError or
// ctx's error.
func (m *Master) Read(ctx context.Context, req Request) (Reply, error) {
	if err := req.Validate(); err != nil {
		return Reply{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var err error
	for attempt := 1; attempt <= m.Retries+1; attempt++ {
		if attempt > 1 {
			m.count("retries", 1)
		}
		var rep Reply
		rep, err = m.once(ctx, req)
		if err == nil {
			rep.Attempts = attempt
			return rep, nil
		}
		if ctx.Err() != nil {
			return Reply{}, ctx.Err()
		}
		var fe *FrameError
		var ee *ExceptionError
		switch {
		case errors.Is(err, ErrTimeout):
			m.count("timeouts", 1)
		case errors.As(err, &fe):
			m.count("frames_"+fe.Kind, 1)
		case errors.As(err, &ee):
			m.count("exceptions", 1)
			if !ee.Retryable() {
				return Reply{}, err
			}
		default:
			return Reply{}, err
		}
	}
	return Reply{}, err
}

func (m *Master) once(ctx context.Context, req Request) (Reply, error) {
	m.silence()
	if err := m.drain(0, "bytes_stale"); err != nil {
		return Reply{}, err
	}
	frame := req.Encode()
	if _, err := m.Port.Write(frame); err != nil {
		return Reply{}, &PortError{err}
	}
	m.lastBusy = time.Now().Add(m.charTime() * time.Duration(len(frame)))

	// Wait for the reply to begin, then read the three bytes that say how
	// long it is, then the rest.
	b := m.buf[:0]
	var at time.Time
	deadline := time.Now().Add(m.ReplyDelay + m.Timeout + m.charTime()*time.Duration(len(frame)))
	want := 3
	for len(b) < want {
		wait := time.Until(deadline)
		if wait <= 0 {
			if len(b) == 0 {
				return Reply{}, ErrTimeout
			}
			m.lastBusy = time.Now()
			return Reply{}, &FrameError{Kind: "short", Detail: fmt.Sprintf("reply stopped after %d of %d bytes", len(b), want)}
		}
		n, err := m.readSome(ctx, b[len(b):want], min(wait, readSlice))
		if err != nil {
			return Reply{}, err
		}
		if n == 0 {
			continue
		}
		if len(b) == 0 {
			at = m.now()
		}
		b = b[:len(b)+n]
		deadline = time.Now().Add(m.gap())
		if len(b) == 3 && want == 3 {
			l, err := req.ReplyLen(b)
			if err != nil {
				// Unframeable: let the rest of it pass so the next request
				// starts on a quiet line.
				m.drain(m.gap(), "bytes_unframed")
				m.count("bytes_unframed", len(b))
				return Reply{}, err
			}
			want = l
		}
	}
	m.lastBusy = time.Now()
	regs, err := req.ParseReply(b)
	if err != nil {
		var fe *FrameError
		if errors.As(err, &fe) {
			m.count("bytes_bad_frame", len(b))
		}
		return Reply{}, err
	}
	return Reply{Registers: regs, At: at, Frame: append([]byte(nil), b...)}, nil
}

// readSome reads into b waiting at most d; (0, nil) means nothing came.
func (m *Master) readSome(ctx context.Context, b []byte, d time.Duration) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := m.Port.SetReadTimeout(d); err != nil {
		return 0, &PortError{err}
	}
	n, err := m.Port.Read(b)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, &PortError{err}
	}
	return n, nil
}

// drain reads and discards until the line has been quiet for quiet (0: take
// only what is already waiting), counting what it threw away as what.
func (m *Master) drain(quiet time.Duration, what string) error {
	var scratch [64]byte
	total := 0
	for total < 4096 {
		if err := m.Port.SetReadTimeout(quiet); err != nil {
			return &PortError{err}
		}
		n, err := m.Port.Read(scratch[:])
		if err != nil {
			return &PortError{err}
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total > 0 {
		m.count(what, total)
		m.lastBusy = time.Now()
	}
	return nil
}

// silence keeps the 3.5-character gap that ends a frame on the bus.
func (m *Master) silence() {
	t35 := m.charTime() * 35 / 10
	if m.Baud > 19200 || m.Baud == 0 {
		t35 = 1750 * time.Microsecond // fixed above 19200 baud (Modbus over serial line, 2.5.1.1)
	}
	if d := time.Until(m.lastBusy.Add(t35)); d > 0 {
		time.Sleep(d)
	}
}

// charTime is one 11-bit character on the wire.
func (m *Master) charTime() time.Duration {
	baud := m.Baud
	if baud <= 0 {
		baud = 9600
	}
	return 11 * time.Second / time.Duration(baud)
}

func (m *Master) gap() time.Duration {
	if m.Gap > 0 {
		return m.Gap
	}
	return 50 * time.Millisecond
}

func (m *Master) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Master) count(what string, n int) {
	if m.Count != nil {
		m.Count(what, n)
	}
}
