package scanneralarm

import (
	"context"
	"flag"
	"net"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/hwtest/goldentest"
	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/transport"
)

var update = flag.Bool("update", false, "rewrite golden files from the driver's output")

// TestGoldenTraces replays normal, alarm, malformed and silent console
// traces through a pty into the real serial path.
func TestGoldenTraces(t *testing.T) {
	cols := goldentest.Run(t, "testdata", Driver(), goldentest.Options{Update: *update})
	if *update {
		return
	}
	// A 450-character timestamp and an over-long category: the reason and
	// the fields are cut to the schema's bounds; the readings validate.
	{
		c := cols.Get(t, "long-text")
		rs := c.Readings()
		if len(rs) != 2 || rs[0].Quality.Status != reading.Suspect || len(rs[0].Quality.Reason) > 512 || len(rs[1].Payload.(Event).Category) > 256 {
			t.Errorf("long-text: %d readings %+v", len(rs), rs)
		}
	}
	{
		c := cols.Get(t, "malformed")
		counts := c.Counts()
		// noise line, PRINTER OFFLINE, MAYBE, the torn half line
		if counts["lines_unmatched"] != 4 {
			t.Errorf("malformed: counts %v, want 4 unmatched lines", counts)
		}
	}
	{
		c := cols.Get(t, "alarm")
		rs := c.Readings()
		if len(rs) != 3 || !rs[0].Payload.(Event).Alarm || !rs[1].Payload.(Event).Alarm || rs[2].Payload.(Event).Alarm {
			t.Errorf("alarm: want alarm, search (alarm), clear; got %d readings", len(rs))
		}
	}
	if c := cols.Get(t, "silent"); len(c.Readings()) != 1 || len(c.Counts()) != 0 {
		t.Errorf("silent: %d readings, counts %v", len(c.Readings()), c.Counts())
	}
}

// TestSilenceReportsDownThenUp: with silence set, a quiet console is
// reported down (timeout) and its next line brings it back up.
func TestSilenceReportsDownThenUp(t *testing.T) {
	p, err := replay.OpenPTY("")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cfg := drivertest.Config(t, "silence: 300ms", drivertest.Transport(transport.Config{Type: "serial", Path: p.Path}))
	dev, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := drivertest.NewOutput()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dev.Run(ctx, out) }()
	out.Wait(t, 10*time.Second, "down after silence", func(o *drivertest.Output) bool { return o.Has("down:timeout") })
	if _, err := p.Device.Write([]byte("2026-11-01 09:00:00 L2 STATUS READY\r\n")); err != nil {
		t.Fatal(err)
	}
	out.Wait(t, 10*time.Second, "up again and a reading", func(o *drivertest.Output) bool {
		return len(o.Readings()) == 1 && o.Events()[len(o.Events())-1] == "emit" && o.Events()[len(o.Events())-2] == "up"
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestTCPTransport reads the same lines from a console on a TCP socket.
func TestTCPTransport(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("2026-11-01 09:01:00 L2 ALARM B000130 gun\r\n2026-11-01 09:01:04 L2 DECISION B000130 CLEAR\r\n"))
		// keep the connection open until the test ends
		buf := make([]byte, 1)
		c.Read(buf)
	}()
	cfg := drivertest.Config(t, "grammar: {profile: xray-console}", drivertest.Transport(transport.Config{Type: "tcp", Address: ln.Addr().String()}))
	dev, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := drivertest.NewOutput()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dev.Run(ctx, out) }()
	out.Wait(t, 10*time.Second, "two readings over tcp", func(o *drivertest.Output) bool { return len(o.Readings()) == 2 })
	cancel()
	<-done
	ev := out.Readings()[0].Payload.(Event)
	if !ev.Alarm || ev.Record != "alarm" || ev.Category != "gun" || ev.Item != "B000130" {
		t.Errorf("first reading %+v", ev)
	}
	if out.Readings()[1].Payload.(Event).Alarm {
		t.Error("CLEAR decision marked as alarm")
	}
}

func TestBadTimestampIsSuspectNotDropped(t *testing.T) {
	s, err := New(drivertest.Config(t, "{}"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.(*scanner).g.Parse("2026-19-01 29:02:02 L2 DECISION B000142 ALARM gun")
	if err != nil {
		t.Fatal(err)
	}
	r := s.(*scanner).reading(frame("x"), m)
	if r.Quality.Status != reading.Suspect || !r.Payload.(Event).Alarm {
		t.Errorf("got %+v", r)
	}
}

func TestOptionsAreValidated(t *testing.T) {
	for _, src := range []string{
		"grammar: {profile: nope}",
		"grammar: {records: [{name: a, pattern: '('}]}",
		"silence: -1s",
		"colour: red",
	} {
		if _, err := New(drivertest.Config(t, src)); err == nil {
			t.Errorf("options %q accepted", src)
		} else if _, ok := err.(*device.ConfigError); !ok {
			t.Errorf("options %q: error %v does not name file and line", src, err)
		}
	}
}
