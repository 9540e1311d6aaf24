package freeport

import (
	"fmt"
	"net"
	"testing"
)

// A port given is bindable, and below the range outgoing connections take
// their local ports from.
func TestLoopbackIsBelowTheEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	seen := map[int]bool{}
	for range 50 {
		port, err := Loopback()
		if err != nil {
			t.Fatal(err)
		}
		if port < lowest || port >= low {
			t.Fatalf("port %d outside [%d, %d)", port, lowest, low)
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatalf("port %d given, then not bindable: %v", port, err)
		}
		l.Close()
		seen[port] = true
	}
	if len(seen) < 40 {
		t.Errorf("50 calls gave only %d different ports: not a random choice", len(seen))
	}
}

// An outgoing connection's local port is never one Loopback gives.
func TestOutgoingConnectionsUseAnotherRange(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.LocalAddr().(*net.TCPAddr).Port; p < ephemeralLow() {
		t.Fatalf("outgoing local port %d below the ephemeral range %d: the premise of Loopback fails here", p, ephemeralLow())
	}
}
