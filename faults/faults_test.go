package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const kills = 10

// TestKillHubUnderLoad kills hubd with SIGKILL ten times while two
// readers feed the box; the hub is restarted on the same port each time.
func TestKillHubUnderLoad(t *testing.T) {
	s := newStation(t, "reader1", "reader2")
	s.startHub()
	s.startBox()
	ctx, stop := context.WithCancel(context.Background())
	wait := s.load(ctx, 4*time.Millisecond)
	for range kills {
		eventually(t, 60*time.Second, "the hub storing readings", func() bool { return s.hubReadings() >= 150 })
		s.hub.kill()
		s.startHub()
	}
	stop()
	sent := wait()
	s.drained(90 * time.Second)
	got := s.verify()
	if len(got) != sent {
		t.Errorf("%d documents sent, hub holds %d", sent, len(got))
	}
	t.Logf("moved %d readings through %d hub kills", len(got), kills)
}

// TestKillEdgedUnderLoad kills edged with SIGKILL ten times under load. A
// document the dying edged had partly read is not taken (it was never a
// reading); everything taken must reach the hub once.
func TestKillEdgedUnderLoad(t *testing.T) {
	s := newStation(t, "reader1", "reader2")
	s.startHub()
	s.startBox()
	ctx, stop := context.WithCancel(context.Background())
	wait := s.load(ctx, 4*time.Millisecond)
	for range kills {
		eventually(t, 60*time.Second, "edged taking readings", func() bool { return s.taken() >= 150 })
		s.box.kill()
		s.startBox()
	}
	stop()
	sent := wait()
	s.drained(90 * time.Second)
	got := s.verify()
	// Bytes edged had read from a port but not yet made into readings die
	// with it: at most one serial read (4 KiB, 44 documents) per device per
	// kill. They were never readings; every reading taken is checked above.
	inFlight := sent - len(got)
	if inFlight < 0 || inFlight > kills*len(s.devices)*44 {
		t.Errorf("%d documents sent, hub holds %d: more lost than edged can have had in its read buffers", sent, len(got))
	}
	t.Logf("moved %d readings through %d edged kills (%d documents were mid-read when edged died)", len(got), kills, inFlight)
}

// TestNetworkCut cuts the box off the hub with the proxy: first a
// blackhole (the link dies silently; keepalive must notice), then resets,
// while the readers keep reading a backlog worth many minutes at a booth
// (one document per 2 s is a busy booth: 600 documents are 20 minutes).
// After the link returns the backlog drains, marked historical.
func TestNetworkCut(t *testing.T) {
	s := newStation(t, "reader1", "reader2")
	s.startHub()
	s.startBox()
	ctx, stop := context.WithCancel(context.Background())
	wait := s.load(ctx, 3*time.Millisecond)
	eventually(t, 60*time.Second, "readings flowing", func() bool { return s.hubReadings() >= 50 })

	s.proxy.set("blackhole")
	cutAt, before := time.Now(), s.sentTotal()
	eventually(t, 30*time.Second, "edged noticing the dead link", func() bool {
		st, err := s.status()
		return err == nil && !st.Connected
	})
	s.proxy.set("reset")
	// Simulated time: the backlog of a long outage, and at least
	// lateAfter (5 s) of real time so its oldest readings arrive late.
	eventually(t, 60*time.Second, "a backlog of 600 documents", func() bool {
		return s.sentTotal()-before >= 600 && time.Since(cutAt) > 6*time.Second
	})
	hubBefore := s.hubReadings()
	s.proxy.set("pass")
	eventually(t, 60*time.Second, "the backlog reaching the hub", func() bool { return s.hubReadings() > hubBefore+600 })
	stop()
	sent := wait()
	s.drained(90 * time.Second)
	got := s.verify()
	if len(got) != sent {
		t.Errorf("%d documents sent, hub holds %d", sent, len(got))
	}
	historical := 0
	for _, r := range got {
		if r.historical {
			historical++
		}
	}
	if historical == 0 {
		t.Error("no reading of the backlog was marked historical")
	}
	for _, r := range got {
		if r.seq <= 10 && r.historical {
			t.Errorf("%s seq %d was live but marked historical", r.device, r.seq)
		}
	}
	t.Logf("moved %d readings across the cut (%d marked historical); %d documents read while cut", len(got), historical, sent-before)
}

// TestUnplugMidFrame pulls a reader out in the middle of a document four
// times (the pty vanishes), plugs it back in, and reads on.
func TestUnplugMidFrame(t *testing.T) {
	s := newStation(t, "reader1")
	s.startHub()
	s.startBox()
	d := s.devices[0]
	n := 0    // whole documents sent
	torn := 0 // documents cut off by an unplug: each is one "incomplete" reading
	waitUp := func() {
		eventually(t, 30*time.Second, "reader1 up", func() bool { return s.availability("reader1") == "up/" })
	}
	for round := range 4 {
		waitUp()
		for range 10 {
			if !d.write(n) {
				t.Fatal("write to a plugged device failed")
			}
			n++
		}
		eventually(t, 30*time.Second, "documents taken", func() bool {
			st, err := s.status()
			return err == nil && st.LastSeq["reader1"] >= uint64(n+torn)
		})
		r1, r2 := document(90_000_000 + round)
		d.mu.Lock()
		io.WriteString(d.pty.Device, r1+"\r\n"+r2[:20])
		d.mu.Unlock()
		// Unplug once edged has taken the bytes off the line: what is still
		// in the line when a cable is pulled is lost, as on a real port.
		// Written bytes reach the line's input queue through the kernel's
		// flip buffer a moment later, so one empty look can come too early:
		// the queue must be seen empty twice, a poll apart.
		empty := 0
		eventually(t, 30*time.Second, "the half document read", func() bool {
			if n, err := d.pty.Pending(); err == nil && n == 0 {
				empty++
			} else {
				empty = 0
			}
			return empty >= 2
		})
		d.unplug()
		torn++
		eventually(t, 30*time.Second, "reader1 reported unplugged", func() bool {
			return s.availability("reader1") == "down/unplugged"
		})
		d.plug()
	}
	waitUp()
	for range 10 {
		d.write(n)
		n++
	}
	eventually(t, 30*time.Second, "last documents taken", func() bool {
		st, err := s.status()
		return err == nil && st.LastSeq["reader1"] >= uint64(n+torn)
	})
	s.drained(30 * time.Second)
	got := s.verify()
	// Every whole document is a document reading; every torn one left at
	// least one failed-read reading ("present the document again"), and
	// nothing else is there.
	whole, failed := 0, 0
	for _, r := range got {
		switch {
		case strings.HasPrefix(r.number, "T9"):
			t.Errorf("a half-sent document became a document reading %d", r.seq)
		case r.number != "":
			whole++
		default:
			failed++
		}
	}
	if whole != n {
		t.Errorf("%d document readings, want %d", whole, n)
	}
	if failed < torn {
		t.Errorf("%d failed-read readings for %d documents cut off by an unplug", failed, torn)
	}
	t.Logf("moved %d readings through 4 unplugs mid-frame", len(got))
}

// availability is "state/reason" of a device in edged's status.
func (s *station) availability(dev string) string {
	r, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/status", s.boxHTTP))
	if err != nil {
		return ""
	}
	defer r.Body.Close()
	var st struct {
		Availability map[string]struct {
			State  string `json:"state"`
			Reason string `json:"reason"`
		} `json:"availability"`
	}
	json.NewDecoder(r.Body).Decode(&st)
	a := st.Availability[dev]
	return a.State + "/" + a.Reason
}
