package hub

import (
	"net"
	"sync"
)

// corkConn is a client's connection as the broker writes to it. A box's
// acker corks it while it writes the PUBACKs of one commit: mochi
// (v2.7.9, clients.go WritePacket) writes each packet to the connection
// on its own, one syscall per PUBACK when its outbound queue is empty,
// which it is for a box; with a few readings of each box in every commit,
// those writes were a tenth of the hub's CPU. Corked, the writes gather
// here and go out in one when the acker uncorks. Whatever else the broker
// writes meanwhile (a command, a PINGRESP) joins them, in order. Going
// through WritePacket keeps mochi's hooks: the fair share counts each
// PUBACK as it is sent (fair.go).
type corkConn struct {
	net.Conn

	mu     sync.Mutex
	corked bool
	buf    []byte
	err    error // a failed flush: the connection is broken, every later write fails
}

func newCorkConn(c net.Conn) *corkConn { return &corkConn{Conn: c} }

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.corked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// cork holds writes until uncork.
func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// maxCorkBuffer is what a connection keeps of its gathered writes'
// buffer between commits; a larger one (a burst of commands) is let go.
const maxCorkBuffer = 64 << 10

// uncork writes what gathered while corked, in one write. An error closes
// the connection: the writes it held were reported written, so the box
// must not go on as if they had arrived (it reconnects and sends again
// what it has no PUBACK for).
func (c *corkConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if len(c.buf) == 0 || c.err != nil {
		return c.err
	}
	_, err := c.Conn.Write(c.buf)
	if cap(c.buf) > maxCorkBuffer {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
	if err != nil {
		c.err = err
		c.Conn.Close()
	}
	return err
}

// innerConn is the connection under a corkConn (for its TLS state).
func innerConn(c net.Conn) net.Conn {
	if cc, ok := c.(*corkConn); ok {
		return cc.Conn
	}
	return c
}
