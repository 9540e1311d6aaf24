package modbus

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/internal/transport"
)

func TestCRCKnownFrames(t *testing.T) {
	// Read 10 holding registers from slave 1: the frame in the Modbus
	// over serial line guide and every RTU tool, CRC C5 CD on the wire.
	got := AppendCRC([]byte{0x01, 0x03, 0x00, 0x00, 0x00, 0x0A})
	if want := []byte{0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD}; !bytes.Equal(got, want) {
		t.Fatalf("frame % x, want % x", got, want)
	}
	if CRC16([]byte("123456789")) != 0x4B37 { // CRC-16/MODBUS check value
		t.Fatalf("check value %04x, want 4b37", CRC16([]byte("123456789")))
	}
}

func TestParseReply(t *testing.T) {
	req := Request{Slave: 1, Function: ReadHoldingRegisters, Address: 0x12, Quantity: 2}
	regs, err := req.ParseReply(req.EncodeReply([]uint16{365, 0xFF9C}))
	if err != nil || len(regs) != 2 || regs[0] != 365 || regs[1] != 0xFF9C {
		t.Fatalf("regs %v, err %v", regs, err)
	}
	var ee *ExceptionError
	if _, err := req.ParseReply(req.EncodeException(2)); !errors.As(err, &ee) || ee.Code != 2 || ee.Retryable() {
		t.Fatalf("exception: %v", err)
	}
	bad := req.EncodeReply([]uint16{365, 1})
	bad[len(bad)-1] ^= 0xFF
	var fe *FrameError
	if _, err := req.ParseReply(bad); !errors.As(err, &fe) || fe.Kind != "crc" {
		t.Fatalf("bad crc: %v", err)
	}
	other := Request{Slave: 2, Function: ReadHoldingRegisters, Address: 0x12, Quantity: 2}
	if _, err := req.ParseReply(other.EncodeReply([]uint16{1, 2})); !errors.As(err, &fe) || fe.Kind != "slave" {
		t.Fatalf("wrong slave: %v", err)
	}
	short := Request{Slave: 1, Function: ReadHoldingRegisters, Address: 0x12, Quantity: 1}
	if _, err := req.ParseReply(short.EncodeReply([]uint16{1})); !errors.As(err, &fe) || fe.Kind != "length" {
		t.Fatalf("wrong count: %v", err)
	}
}

func TestRequestValidate(t *testing.T) {
	for _, r := range []Request{
		{Slave: 0, Function: 3, Quantity: 1},
		{Slave: 248, Function: 3, Quantity: 1},
		{Slave: 1, Function: 6, Quantity: 1},
		{Slave: 1, Function: 3, Quantity: 0},
		{Slave: 1, Function: 3, Quantity: 126},
		{Slave: 1, Function: 4, Address: 0xFFFF, Quantity: 2},
	} {
		if r.Validate() == nil {
			t.Errorf("%+v accepted", r)
		}
	}
}

// slave plays Modbus slaves on the device side of a pty: each 8-byte
// request goes to answer, which returns the bytes to send back (nil: stay
// silent, as an unplugged slave does).
type slave struct {
	mu       sync.Mutex
	requests [][]byte
}

func runSlave(t *testing.T, dev io.ReadWriter, answer func(n int, req []byte) []byte) *slave {
	s := &slave{}
	go func() {
		buf := make([]byte, 0, 64)
		chunk := make([]byte, 64)
		for {
			n, err := dev.Read(chunk)
			if err != nil {
				return
			}
			buf = append(buf, chunk[:n]...)
			for len(buf) >= 8 {
				req := append([]byte(nil), buf[:8]...)
				buf = buf[8:]
				s.mu.Lock()
				s.requests = append(s.requests, req)
				k := len(s.requests)
				s.mu.Unlock()
				if out := answer(k, req); out != nil {
					dev.Write(out)
				}
			}
		}
	}()
	return s
}

func (s *slave) seen() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.requests...)
}

type counts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counts) add(what string, n int) { c.mu.Lock(); c.m[what] += n; c.mu.Unlock() }
func (c *counts) get(what string) int    { c.mu.Lock(); defer c.mu.Unlock(); return c.m[what] }

func newMaster(t *testing.T) (*Master, *replay.PTY, *counts) {
	t.Helper()
	p, err := replay.OpenPTY("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	port, err := transport.OpenSerial(transport.Config{Type: "serial", Path: p.Path, Baud: 9600})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { port.Close() })
	c := &counts{m: map[string]int{}}
	return &Master{Port: port, Baud: 9600, Timeout: 300 * time.Millisecond, ReplyDelay: 20 * time.Millisecond, Retries: 2, Count: c.add}, p, c
}

var req1 = Request{Slave: 1, Function: ReadHoldingRegisters, Address: 0x12, Quantity: 4}

func TestMasterReadsRegisters(t *testing.T) {
	m, p, _ := newMaster(t)
	runSlave(t, p.Device, func(_ int, req []byte) []byte {
		if !bytes.Equal(req, req1.Encode()) {
			return nil
		}
		// Sent in two pieces, as a USB adapter hands them over.
		rep := req1.EncodeReply([]uint16{365, 364, 0xFF38, 0})
		p.Device.Write(rep[:4])
		return rep[4:]
	})
	rep, err := m.Read(context.Background(), req1)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Registers[0] != 365 || int16(rep.Registers[2]) != -200 || rep.Attempts != 1 || rep.At.IsZero() {
		t.Fatalf("reply %+v", rep)
	}
}

func TestMasterRetriesBadCRCAndBusy(t *testing.T) {
	m, p, c := newMaster(t)
	runSlave(t, p.Device, func(n int, req []byte) []byte {
		switch n {
		case 1:
			f := req1.EncodeReply([]uint16{1, 2, 3, 4})
			f[4] ^= 0x01 // a bit flipped on the line
			return f
		case 2:
			return req1.EncodeException(0x06) // busy: worth asking again
		}
		return req1.EncodeReply([]uint16{365, 0, 0, 0})
	})
	rep, err := m.Read(context.Background(), req1)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Attempts != 3 || rep.Registers[0] != 365 {
		t.Fatalf("reply %+v", rep)
	}
	if c.get("frames_crc") != 1 || c.get("exceptions") != 1 || c.get("retries") != 2 {
		t.Fatalf("counts %v", c.m)
	}
}

func TestMasterDoesNotRetryIllegalAddress(t *testing.T) {
	m, p, _ := newMaster(t)
	s := runSlave(t, p.Device, func(int, []byte) []byte { return req1.EncodeException(0x02) })
	_, err := m.Read(context.Background(), req1)
	var ee *ExceptionError
	if !errors.As(err, &ee) || ee.Code != 2 {
		t.Fatalf("err %v, want exception 02", err)
	}
	if n := len(s.seen()); n != 1 {
		t.Fatalf("asked %d times; an illegal address does not get better", n)
	}
}

func TestMasterTimesOutAfterRetries(t *testing.T) {
	m, p, c := newMaster(t)
	m.Timeout = 50 * time.Millisecond
	s := runSlave(t, p.Device, func(int, []byte) []byte { return nil })
	_, err := m.Read(context.Background(), req1)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err %v, want timeout", err)
	}
	if n := len(s.seen()); n != 3 || c.get("timeouts") != 3 {
		t.Fatalf("asked %d times, %d timeouts; want 1 + 2 retries", n, c.get("timeouts"))
	}
}

func TestMasterDropsLateReplyBeforeNextRequest(t *testing.T) {
	m, p, c := newMaster(t)
	m.Retries = 0
	// A reply that arrives after the master gave up must not be taken as
	// the answer to the next request.
	late := make(chan struct{})
	runSlave(t, p.Device, func(n int, req []byte) []byte {
		if n == 1 {
			go func() { <-late; p.Device.Write(req1.EncodeReply([]uint16{111, 0, 0, 0})) }()
			return nil
		}
		return req1.EncodeReply([]uint16{222, 0, 0, 0})
	})
	if _, err := m.Read(context.Background(), req1); !errors.Is(err, ErrTimeout) {
		t.Fatalf("first: %v", err)
	}
	close(late)
	// Wait until the late reply is waiting in the port, then ask again.
	waitPending(t, p.Path, 13)
	rep, err := m.Read(context.Background(), req1)
	if err != nil || rep.Registers[0] != 222 {
		t.Fatalf("second: %+v %v", rep, err)
	}
	if c.get("bytes_stale") != 13 {
		t.Fatalf("stale bytes %d, want 13", c.get("bytes_stale"))
	}
}

func TestMasterSerialisesCallers(t *testing.T) {
	m, p, _ := newMaster(t)
	reqs := map[byte]Request{}
	for s := byte(1); s <= 4; s++ {
		reqs[s] = Request{Slave: s, Function: ReadInputRegisters, Address: 1, Quantity: 2}
	}
	runSlave(t, p.Device, func(_ int, req []byte) []byte {
		r, ok := reqs[req[0]]
		if !ok || !bytes.Equal(req, r.Encode()) {
			return nil // an interleaved, torn request: no slave would answer it
		}
		return r.EncodeReply([]uint16{uint16(req[0]) * 100, 1})
	})
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for s := byte(1); s <= 4; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				rep, err := m.Read(context.Background(), reqs[s])
				if err == nil && rep.Registers[0] != uint16(s)*100 {
					err = errors.New("answer for another slave")
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestMasterStopsOnContext(t *testing.T) {
	m, p, _ := newMaster(t)
	m.Timeout = time.Hour
	runSlave(t, p.Device, func(int, []byte) []byte { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := m.Read(ctx, req1); done <- err }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

func TestMasterReportsVanishedPort(t *testing.T) {
	m, _, _ := newMaster(t)
	m.Port.Close()
	_, err := m.Read(context.Background(), req1)
	var pe *PortError
	if !errors.As(err, &pe) {
		t.Fatalf("err %v, want a port error", err)
	}
}

func BenchmarkParseReply(b *testing.B) {
	f := req1.EncodeReply([]uint16{365, 364, 251, 0})
	for b.Loop() {
		if _, err := req1.ParseReply(f); err != nil {
			b.Fatal(err)
		}
	}
}

// waitPending waits until n bytes wait unread on the host side of the pty
// (TIOCINQ): the pty hands written bytes over asynchronously.
func waitPending(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for {
		got, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCINQ)
		if err != nil {
			t.Fatal(err)
		}
		if got >= n {
			return
		}
		runtime.Gosched()
	}
}
