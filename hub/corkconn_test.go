package hub

import (
	"bytes"
	"errors"
	"net"
	"testing"
)

// countingConn records each Write the connection under a corkConn gets.
type countingConn struct {
	net.Conn
	writes [][]byte
	fail   error
	closed bool
}

func (c *countingConn) Write(p []byte) (int, error) {
	if c.fail != nil {
		return 0, c.fail
	}
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

func (c *countingConn) Close() error { c.closed = true; return nil }

func TestCorkedWritesGoOutInOneWriteInOrder(t *testing.T) {
	under := &countingConn{}
	c := newCorkConn(under)
	c.Write([]byte("a"))
	c.cork()
	for _, s := range []string{"b", "cd", "e"} {
		if n, err := c.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("corked write %q: %d, %v", s, n, err)
		}
	}
	if len(under.writes) != 1 {
		t.Fatalf("writes reached the connection while corked: %q", under.writes)
	}
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("f"))
	want := [][]byte{[]byte("a"), []byte("bcde"), []byte("f")}
	if len(under.writes) != len(want) {
		t.Fatalf("writes %q, want %q", under.writes, want)
	}
	for i := range want {
		if !bytes.Equal(under.writes[i], want[i]) {
			t.Fatalf("writes %q, want %q", under.writes, want)
		}
	}
	if err := c.uncork(); err != nil || len(under.writes) != 3 {
		t.Fatalf("an uncork with nothing gathered wrote: %q, %v", under.writes, err)
	}
}

func TestFailedFlushClosesTheConnectionAndFailsLaterWrites(t *testing.T) {
	broken := errors.New("connection reset")
	under := &countingConn{fail: broken}
	c := newCorkConn(under)
	c.cork()
	c.Write([]byte("puback"))
	if err := c.uncork(); !errors.Is(err, broken) {
		t.Fatalf("uncork: %v, want %v", err, broken)
	}
	if !under.closed {
		t.Fatal("the connection stayed open after its gathered writes were lost")
	}
	under.fail = nil
	if _, err := c.Write([]byte("next")); !errors.Is(err, broken) {
		t.Fatalf("a write after the failed flush: %v, want %v", err, broken)
	}
	if len(under.writes) != 0 {
		t.Fatalf("written after the failure: %q", under.writes)
	}
}
