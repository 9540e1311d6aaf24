package record

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/usbhid/usbhidtest"
)

// GPIO edges are recorded through periph.io pins (gpiotest fakes here, as
// the machine has no GPIO chips), and the recording plays back into fresh
// fake pins as the same edges.
func TestGPIORecordAndReplay(t *testing.T) {
	pedal := &gpiotest.Pin{N: "PEDAL", L: gpio.Low, EdgesChan: make(chan gpio.Level)}
	door := &gpiotest.Pin{N: "DOOR", L: gpio.High, EdgesChan: make(chan gpio.Level)}
	var b bytes.Buffer
	rec, err := New(&b, trace.Header{Driver: "contact", Transport: "gpio"})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan trace.Event, 16)
	rec.OnEvent = func(e trace.Event) { seen <- e }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- GPIO(ctx, map[string]gpio.PinIn{"pedal": pedal, "door": door}, rec) }()
	next := func(what string) {
		t.Helper()
		select {
		case <-seen:
		case <-time.After(10 * time.Second):
			t.Fatalf("recorder did not record %s", what)
		}
	}
	next("the initial levels")
	next("the initial levels")
	for _, l := range []gpio.Level{gpio.High, gpio.Low, gpio.High} {
		pedal.EdgesChan <- l
		next("a pedal edge")
	}
	door.EdgesChan <- gpio.Low
	next("the door edge")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	tr, err := trace.Read(&b)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range tr.Events {
		got = append(got, e.GPIO.Line+"="+string(rune('0'+e.GPIO.Level)))
	}
	want := "[door=1 pedal=0 pedal=1 pedal=0 pedal=1 door=0]"
	if s := "[" + join(got) + "]"; s != want {
		t.Fatalf("recorded %s, want %s", s, want)
	}

	// Replay into fresh pins: a watcher sees the same edges in order.
	p2 := &gpiotest.Pin{N: "PEDAL", L: gpio.Low, EdgesChan: make(chan gpio.Level)}
	d2 := &gpiotest.Pin{N: "DOOR", L: gpio.High, EdgesChan: make(chan gpio.Level)}
	edges := make(chan string, 8)
	wctx, wcancel := context.WithCancel(context.Background())
	defer wcancel()
	for name, p := range map[string]*gpiotest.Pin{"pedal": p2, "door": d2} {
		go func() {
			for wctx.Err() == nil {
				if p.WaitForEdge(-1) {
					edges <- name + "=" + string(rune('0'+level(p.Read())))
				}
			}
		}()
	}
	if err := replay.GPIO(context.Background(), tr, map[string]*gpiotest.Pin{"pedal": p2, "door": d2}, replay.Options{}); err != nil {
		t.Fatal(err)
	}
	// Each line's edges come in recorded order. Across lines the two
	// watcher goroutines may report in either order, so only per-line
	// order is asserted.
	perLine := map[string][]string{}
	for range 4 {
		select {
		case e := <-edges:
			line, lvl, _ := strings.Cut(e, "=")
			perLine[line] = append(perLine[line], lvl)
		case <-time.After(10 * time.Second):
			t.Fatalf("replay delivered only %v", perLine)
		}
	}
	if got := strings.Join(perLine["pedal"], ","); got != "1,0,1" {
		t.Errorf("pedal replayed as %s, want 1,0,1", got)
	}
	if got := strings.Join(perLine["door"], ","); got != "0" {
		t.Errorf("door replayed as %s, want 0", got)
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

// USB HID reports are recorded with the poll that asked for them, and the
// recording replays through the drivers' seam in the same order.
func TestUSBRecordPollAndReplay(t *testing.T) {
	dev := usbhidtest.New()
	poll := []byte{0x01, 0x80, 0x33, 0x01, 0, 0, 0, 0}
	answer := []byte{0x80, 0x80, 0x0e, 0x38, 0x4e, 0x20, 0, 0}
	dev.OnWrite = func(b []byte) {
		if bytes.Equal(b, poll) {
			dev.Push(answer)
		}
	}
	var b bytes.Buffer
	rec, _ := New(&b, trace.Header{Driver: "temper", Transport: "usb", USB: &trace.USBDevice{Vendor: "413d", Product: "2107"}})
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	rec.OnEvent = func(e trace.Event) {
		if e.USB != nil && e.USB.Endpoint == EndpointIn {
			if n++; n == 2 {
				cancel()
			}
		}
	}
	if err := USB(ctx, dev, rec, USBOptions{Poll: poll, Every: 20e6}); err != nil {
		t.Fatal(err)
	}
	tr, err := trace.Read(&b)
	if err != nil {
		t.Fatal(err)
	}
	var seq []string
	for _, e := range tr.Events {
		if e.USB.Endpoint == EndpointOut && bytes.Equal(e.USB.Data, poll) {
			seq = append(seq, "poll")
		} else if e.USB.Endpoint == EndpointIn && bytes.Equal(e.USB.Data, answer) {
			seq = append(seq, "answer")
		}
	}
	if len(seq) < 4 || join(seq[:4]) != "poll answer poll answer" {
		t.Fatalf("recorded %v", seq)
	}

	// Replay: the answer is pushed only after the driver's poll.
	rp := usbhidtest.New()
	player := replay.NewUSBPlayer(rp)
	errc := make(chan error, 1)
	go func() { errc <- player.Play(context.Background(), tr, replay.Options{}) }()
	buf := make([]byte, 8)
	for range 2 {
		rp.WriteReport(poll)
		k, err := rp.ReadReport(context.Background(), buf)
		if err != nil || !bytes.Equal(buf[:k], answer) {
			t.Fatalf("replayed % x, %v", buf[:k], err)
		}
	}
	if len(tr.Events) == 4 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}
