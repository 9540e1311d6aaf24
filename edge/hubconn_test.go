package edge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// loopback is a connected TCP pair: the box's end wrapped as the publisher
// dials it, and the hub's end.
func loopback(t *testing.T) (*hubConn, net.Conn) {
	return loopbackTimeout(t, 5*time.Second)
}

func loopbackTimeout(t *testing.T, writeTimeout time.Duration) (*hubConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return newHubConn(c, writeTimeout), s
}

// TestHubConnKeepsOrder: packets written one call each arrive whole and
// in order, however the queue groups them, and what is queued when the
// connection closes (paho's DISCONNECT) still goes out.
func TestHubConnKeepsOrder(t *testing.T) {
	box, hub := loopback(t)
	var want bytes.Buffer
	for i := range 20000 {
		p := fmt.Appendf(nil, "packet %d|", i)
		want.Write(p)
		if n, err := box.Write(p); err != nil || n != len(p) {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
	}
	box.Write([]byte("DISCONNECT"))
	want.WriteString("DISCONNECT")
	box.Close()
	got, err := io.ReadAll(hub)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("hub read %d bytes, want %d (first difference at %d)", len(got), want.Len(), firstDiff(got, want.Bytes()))
	}
	if _, err := box.Write([]byte("late")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v, want net.ErrClosed", err)
	}
}

// TestHubConnReadsAndFails: reads come through the buffer, and once the
// hub is gone a write fails instead of queueing for ever.
func TestHubConnReadsAndFails(t *testing.T) {
	box, hub := loopback(t)
	defer box.Close()
	hub.Write([]byte{0x40, 0x02, 0x00, 0x01}) // a PUBACK
	p := make([]byte, 1)
	for i, want := range []byte{0x40, 0x02, 0x00, 0x01} {
		if _, err := io.ReadFull(box, p); err != nil || p[0] != want {
			t.Fatalf("byte %d: %x, %v", i, p[0], err)
		}
	}
	hub.(*net.TCPConn).SetLinger(0)
	hub.Close() // a reset: the box's next writes fail
	chunk := bytes.Repeat([]byte("x"), 1024)
	for i := 0; ; i++ {
		if _, err := box.Write(chunk); err != nil {
			break
		}
		if i > 100000 {
			t.Fatal("writes to a reset connection never failed")
		}
	}
	if _, err := io.ReadFull(box, p); err == nil {
		t.Fatal("read from a failed connection succeeded")
	}
}

// TestHubConnDeadLink: a hub that stops reading (a link gone silent)
// makes a write fail once the writer's write has waited writeTimeout, as
// paho's write timeout did; paho's own deadlines, which the queue makes
// meaningless, change nothing.
func TestHubConnDeadLink(t *testing.T) {
	box, _ := loopbackTimeout(t, 200*time.Millisecond)
	defer box.Close()
	box.SetWriteDeadline(time.Time{})
	chunk := bytes.Repeat([]byte("x"), 16<<10)
	var err error
	for err == nil {
		box.SetWriteDeadline(time.Now().Add(time.Hour))
		_, err = box.Write(chunk)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a silent hub: %v, want a deadline exceeded", err)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
