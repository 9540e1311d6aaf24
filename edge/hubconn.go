package edge

import (
	"bufio"
	"net"
	"sync"
	"time"
)

// hubConn is a plain TCP connection to the hub as paho uses it. paho
// reads each packet a byte or two at a time (type, length, body) and
// writes each packet with a call of its own: in a drain, three reads per
// PUBACK and a write per reading, though both come many to a segment.
// Reads go through a buffer. Writes are queued, and one goroutine writes
// whatever is queued while the previous write is in the kernel: packets
// sent back to back share write calls, and a packet sent alone still goes
// out at once. A queue is what bufio.Writer lacks: it would hold a packet
// until full or flushed, and paho never flushes.
//
// paho's write deadlines are for its calls, which only queue: the writer
// bounds each of its writes by writeTimeout instead, so a dead link still
// fails a write (and ends the connection) in that time.
type hubConn struct {
	net.Conn
	r            *bufio.Reader
	writeTimeout time.Duration

	mu      sync.Mutex
	room    sync.Cond // the queue was taken
	queued  []byte
	spare   []byte
	err     error         // set when writing failed or the connection closed
	kick    chan struct{} // something is queued (capacity 1)
	done    chan struct{} // Close was called
	stopped chan struct{} // the writer has returned
	close   sync.Once
}

// maxQueued bounds the bytes waiting to be written: Write blocks beyond
// it, as a full socket buffer would make it.
const maxQueued = 32 << 10

// closeFlush is how long Close gives what is queued (a DISCONNECT) to go.
const closeFlush = time.Second

func newHubConn(c net.Conn, writeTimeout time.Duration) *hubConn {
	h := &hubConn{Conn: c, r: bufio.NewReaderSize(c, 4096), writeTimeout: writeTimeout, kick: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
	h.room.L = &h.mu
	go h.writer()
	return h
}

func (h *hubConn) Read(p []byte) (int, error) { return h.r.Read(p) }

func (h *hubConn) SetWriteDeadline(time.Time) error { return nil }

func (h *hubConn) SetDeadline(t time.Time) error { return h.Conn.SetReadDeadline(t) }

func (h *hubConn) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for h.err == nil && len(h.queued) > 0 && len(h.queued)+len(p) > maxQueued {
		h.room.Wait()
	}
	if h.err != nil {
		return 0, h.err
	}
	h.queued = append(h.queued, p...)
	select {
	case h.kick <- struct{}{}:
	default:
	}
	return len(p), nil
}

// writer writes what is queued until Close, and what is queued then.
func (h *hubConn) writer() {
	defer close(h.stopped)
	for {
		last := false
		select {
		case <-h.kick:
		case <-h.done:
			last = true
		}
		h.mu.Lock()
		b := h.queued
		h.queued, h.spare = h.spare[:0], nil
		h.room.Broadcast()
		h.mu.Unlock()
		if len(b) > 0 {
			err := h.Conn.SetWriteDeadline(time.Now().Add(h.writeTimeout))
			if err == nil {
				_, err = h.Conn.Write(b)
			}
			if err != nil {
				h.mu.Lock()
				if h.err == nil {
					h.err = err
				}
				h.room.Broadcast()
				h.mu.Unlock()
				h.Conn.Close() // paho's reader sees the connection end
				return
			}
		}
		if cap(b) <= 2*maxQueued { // one large packet's buffer is not kept
			h.mu.Lock()
			h.spare = b
			h.mu.Unlock()
		}
		if last {
			return
		}
	}
}

func (h *hubConn) Close() error {
	var err error
	h.close.Do(func() {
		h.mu.Lock()
		if h.err == nil {
			h.err = net.ErrClosed
		}
		h.room.Broadcast()
		h.mu.Unlock()
		close(h.done)
		select {
		case <-h.stopped:
		case <-time.After(closeFlush): // a dead link: the write below ends now
		}
		err = h.Conn.Close()
		<-h.stopped
	})
	return err
}
