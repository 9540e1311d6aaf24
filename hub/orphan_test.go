package hub

import (
	"testing"
	"time"
)

// TestCloseEndsAConnectionTheBrokerLostTrackOf: a box's connection that
// mochi no longer lists among its clients (it can drop a session's entry
// when the connection it took over ends) still ends when the hub closes.
// Before, Close waited for it for ever, and hubd could not stop.
func TestCloseEndsAConnectionTheBrokerLostTrackOf(t *testing.T) {
	h := hostileHub(t, nil)
	c := boxClient(t, h, "booth1")
	defer c.Disconnect(0)
	cl, ok := h.broker.Clients.Get(boxID("booth1"))
	if !ok {
		t.Fatal("booth1 is not connected")
	}
	h.broker.Clients.Delete(cl.ID) // what mochi's takeover race leaves
	closed := make(chan struct{})
	go func() { h.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close still waits for a connection the broker does not list")
	}
}
