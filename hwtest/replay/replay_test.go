package replay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/transport"
)

func pollTrace() *trace.Trace {
	return &trace.Trace{Header: trace.Header{Trace: trace.Version}, Events: []trace.Event{
		{T: 0, Host: []byte("R1\r")},
		{T: 20 * time.Millisecond, Dev: []byte("T 36.6\r\n")},
		{T: time.Second, Host: []byte("R1\r")},
		{T: time.Second + 20*time.Millisecond, Dev: []byte("T 36.7\r\n")},
	}}
}

func openHost(t *testing.T, p *PTY) transport.Port {
	t.Helper()
	h, err := transport.OpenSerial(transport.Config{Type: "serial", Path: p.Path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	h.SetReadTimeout(5 * time.Second)
	return h
}

// As fast as ordering allows, a poll/response device answers each poll,
// never before it; bytes the host sends that the trace did not expect are
// reported.
func TestPollResponseOrderAndUnexpected(t *testing.T) {
	p, err := OpenPTY("")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	host := openHost(t, p)
	var unexpected [][]byte
	done := make(chan error, 1)
	go func() {
		done <- Serial(context.Background(), pollTrace(), p.Device, Options{Unexpected: func(want, got []byte) {
			unexpected = append(unexpected, append([]byte(nil), got...))
		}})
	}()
	host.Write([]byte("R1\r"))
	got := make([]byte, 8)
	if _, err := io.ReadFull(host, got); err != nil || string(got) != "T 36.6\r\n" {
		t.Fatalf("first answer %q %v", got, err)
	}
	host.Write([]byte("X?\rR1\r"))
	if _, err := io.ReadFull(host, got); err != nil || string(got) != "T 36.7\r\n" {
		t.Fatalf("second answer %q %v", got, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(unexpected) != 1 || !bytes.Equal(unexpected[0], []byte("X?\r")) {
		t.Errorf("unexpected host bytes reported: %q", unexpected)
	}
}

// A request that never comes fails the replay, saying what was expected
// and what came instead.
func TestExpectTimeout(t *testing.T) {
	p, err := OpenPTY("")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	host := openHost(t, p)
	host.Write([]byte("R2\r"))
	err = Serial(context.Background(), pollTrace(), p.Device, Options{ExpectTimeout: 200 * time.Millisecond})
	var ue *UnexpectedError
	if !errors.As(err, &ue) || string(ue.Want) != "R1\r" || string(ue.Got) != "R2\r" {
		t.Fatalf("error %v", err)
	}
}

// An unplug event makes the host's open port fail and the link vanish;
// the replug brings a new port back under the same link.
func TestUnplugReplug(t *testing.T) {
	link := filepath.Join(t.TempDir(), "ttyUSB0")
	p, err := OpenPTY(link)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	host := openHost(t, p)
	// The host reads the bytes, then asks for more ("?"): only then does
	// the trace unplug (bytes still unread at an unplug are lost, as on a line).
	tr := &trace.Trace{Header: trace.Header{Trace: trace.Version}, Events: []trace.Event{
		{T: 0, Dev: []byte("ABC")},
		{T: time.Millisecond, Host: []byte("?")},
		{T: 2 * time.Millisecond, Unplug: true},
	}}
	done := make(chan error, 1)
	go func() { done <- Serial(context.Background(), tr, p.Device, Options{Plug: p}) }()
	buf := make([]byte, 16)
	n, _ := host.Read(buf)
	if string(buf[:n]) != "ABC" {
		t.Fatalf("read %q before the unplug", buf[:n])
	}
	host.Write([]byte("?"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// A read already waiting when the line hangs up is not woken on Linux;
	// the next one fails, as a driver polling its port finds out.
	host.SetReadTimeout(100 * time.Millisecond)
	failed := false
	for i := 0; i < 20 && !failed; i++ {
		_, err := host.Read(buf)
		failed = err != nil
	}
	if !failed {
		t.Fatal("the host's port still reads after the unplug")
	}
	if _, err := transport.OpenSerial(transport.Config{Type: "serial", Path: link}); err == nil {
		t.Fatal("the link still opens while unplugged")
	}
	w, err := p.Replug(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	host2 := openHost(t, p)
	w.Write([]byte("DEF"))
	n, _ = host2.Read(buf)
	if string(buf[:n]) != "DEF" {
		t.Fatalf("read %q after the replug", buf[:n])
	}
}
