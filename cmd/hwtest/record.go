package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"

	"github.com/kordon/kordon/hwtest/record"
	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/transport"
	"github.com/kordon/kordon/internal/usbhid"
	"github.com/kordon/kordon/internal/usbhid/libusb"
)

func recordCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("record", stdout, stderr)
	out := fs.String("o", "", "trace file to write (required)")
	port := fs.String("port", "", "passive: record what the device on this serial port sends")
	devPath := fs.String("device", "", "man in the middle: the device's serial port")
	hostPath := fs.String("host", "", "man in the middle: the serial port wired to the host software")
	link := fs.String("link", "", "man in the middle: create a pseudo-terminal for the host software, linked here")
	baud := fs.Int("baud", 9600, "baud rate (data bits, parity: -data-bits, -parity)")
	dataBits := fs.Int("data-bits", 8, "data bits")
	parity := fs.String("parity", "none", "none, even or odd")
	reopen := fs.Bool("reopen", false, "passive: keep recording across unplugs (unplug/replug events)")
	gpioLines := fs.String("gpio", "", "record edges on these GPIO lines (comma-separated periph.io names)")
	usbID := fs.String("usb", "", "record HID input reports of this device (VID:PID, hex)")
	usbIface := fs.Int("usb-interface", 0, "HID interface number")
	usbPoll := fs.String("usb-poll", "", "hex report to write before each read (devices that answer polls)")
	usbEvery := fs.Duration("usb-every", time.Second, "poll interval")
	driver := fs.String("driver", "", "driver to name in the header, so the trace replays (hwtest drivers)")
	id := fs.String("id", "", "device id for the header")
	source := fs.String("source", "", "what was recorded: device model, firmware, site (no personal data)")
	note := fs.String("note", "", "a note for the header")
	duration := fs.Duration("duration", 0, "stop after this long (default: until Ctrl-C)")
	verbose := fs.Bool("v", false, "print each recorded event's size to standard error")
	var opts optionFlags
	fs.Var(&opts, "option", "driver option key=value for the header (repeatable; value is YAML)")
	if err := fs.parse(args); err != nil {
		return err
	}
	modes := 0
	for _, set := range []bool{*port != "", *devPath != "", *gpioLines != "", *usbID != ""} {
		if set {
			modes++
		}
	}
	if *out == "" || modes != 1 || fs.NArg() != 0 {
		return fs.usagef("give -o and exactly one of -port, -device, -gpio or -usb")
	}
	if *devPath != "" && (*hostPath == "") == (*link == "") {
		return fmt.Errorf("record -device needs exactly one of -host or -link")
	}
	node, err := optionsNode(opts)
	if err != nil {
		return err
	}
	var options map[string]any
	if node != nil {
		if err := node.Decode(&options); err != nil {
			return fmt.Errorf("-option: %w", err)
		}
	}
	h := trace.Header{Device: *id, Driver: *driver, Options: options, Source: *source, Note: *note}
	switch {
	case *gpioLines != "":
		h.Transport = "gpio"
	case *usbID != "":
		h.Transport = "usb"
	default:
		h.Transport = "serial"
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	defer f.Close()
	rec, err := record.New(f, h)
	if err != nil {
		return err
	}
	if *verbose {
		// Printing happens off the traffic path: the recorder calls OnEvent
		// before bytes are forwarded, and a slow terminal must never stall
		// the line. Lines that do not fit the buffer are counted, not waited for.
		// The channel is never closed (a note typed on stdin may still
		// arrive after recording ends); stop tells the printer to finish.
		lines := make(chan string, 4096)
		stop, printed := make(chan struct{}), make(chan struct{})
		var skipped atomic.Int64
		go func() {
			defer close(printed)
			for {
				select {
				case l := <-lines:
					fmt.Fprintln(stderr, l)
				case <-stop:
					for {
						select {
						case l := <-lines:
							fmt.Fprintln(stderr, l)
						default:
							return
						}
					}
				}
			}
		}()
		defer func() {
			close(stop)
			<-printed
			if n := skipped.Load(); n > 0 {
				fmt.Fprintf(stderr, "hwtest: %d event lines not shown (terminal too slow); the trace has them all\n", n)
			}
		}()
		rec.OnEvent = func(e trace.Event) {
			select {
			case lines <- describeEvent(e):
			default:
				skipped.Add(1)
			}
		}
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	// Lines typed while recording annotate the trace ("presenting specimen").
	go func() {
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			if t := strings.TrimSpace(sc.Text()); t != "" {
				rec.Note(t)
			}
		}
	}()
	serialCfg := func(path string) transport.Config {
		return transport.Config{Type: "serial", Path: path, Baud: *baud, DataBits: *dataBits, Parity: *parity}
	}
	switch {
	case *port != "":
		cfg := serialCfg(*port)
		fmt.Fprintf(stderr, "hwtest: recording %s into %s (Ctrl-C to stop)\n", *port, *out)
		err = record.Serial(ctx, func() (transport.Port, error) { return transport.OpenSerial(cfg) }, rec, record.SerialOptions{
			Reopen: *reopen,
			OnOpen: func() { fmt.Fprintf(stderr, "hwtest: %s open\n", *port) },
		})
	case *devPath != "":
		dev, err2 := transport.OpenSerial(serialCfg(*devPath))
		if err2 != nil {
			return err2
		}
		defer dev.Close()
		var hostPort transport.Port
		if *link != "" {
			p, err2 := replay.OpenPTY(*link)
			if err2 != nil {
				return err2
			}
			defer p.Close()
			hostPort = &ptyPort{f: p.Device}
			fmt.Fprintf(stderr, "hwtest: host software should open %s\n", *link)
		} else if hostPort, err = transport.OpenSerial(serialCfg(*hostPath)); err != nil {
			return err
		}
		defer hostPort.Close()
		fmt.Fprintf(stderr, "hwtest: recording between %s and the host into %s (Ctrl-C to stop)\n", *devPath, *out)
		fmt.Fprintf(stderr, "hwtest: %s open\n", *devPath)
		err = record.Between(ctx, hostPort, dev, rec)
	case *gpioLines != "":
		pins, err2 := openGPIO(strings.Split(*gpioLines, ","))
		if err2 != nil {
			return err2
		}
		fmt.Fprintf(stderr, "hwtest: recording GPIO %s into %s (Ctrl-C to stop)\n", *gpioLines, *out)
		err = record.GPIO(ctx, pins, rec)
	case *usbID != "":
		vid, pid, _ := strings.Cut(*usbID, ":")
		uid, err2 := usbhid.ParseID(vid, pid)
		if err2 != nil {
			return err2
		}
		uid.Interface = *usbIface
		var poll []byte
		if *usbPoll != "" {
			if poll, err2 = hex.DecodeString(strings.ReplaceAll(*usbPoll, " ", "")); err2 != nil {
				return fmt.Errorf("-usb-poll: %w", err2)
			}
		}
		dev, err2 := libusb.Open(uid)
		if err2 != nil {
			return err2
		}
		defer dev.Close()
		fmt.Fprintf(stderr, "hwtest: recording USB %s into %s (Ctrl-C to stop)\n", uid, *out)
		err = record.USB(ctx, dev, rec, record.USBOptions{Poll: poll, Every: *usbEvery})
	}
	s := rec.Stats()
	fmt.Fprintf(stderr, "hwtest: recorded %d events: %d device bytes, %d host bytes, %d GPIO edges, %d USB reports, %d notes\n",
		s.Events, s.DevBytes, s.HostBytes, s.GPIO, s.USB, s.Notes)
	if ctx.Err() != nil {
		return rec.Err() // Ctrl-C or -duration: a normal end
	}
	return err
}

// ptyPort gives the device side of a pseudo-terminal the Port interface:
// a read that times out returns (0, nil), as go.bug.st/serial's does.
type ptyPort struct {
	f       *os.File
	timeout time.Duration
}

func (p *ptyPort) Read(b []byte) (int, error) {
	if p.timeout > 0 {
		p.f.SetReadDeadline(time.Now().Add(p.timeout)) // the master is pollable (replay.OpenPTY)
	}
	n, err := p.f.Read(b)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	}
	return n, err
}
func (p *ptyPort) Write(b []byte) (int, error)          { return p.f.Write(b) }
func (p *ptyPort) Close() error                         { return nil } // the PTY owns it
func (p *ptyPort) SetReadTimeout(d time.Duration) error { p.timeout = d; return nil }

func openGPIO(names []string) (map[string]gpio.PinIn, error) {
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("gpio: %w", err)
	}
	pins := map[string]gpio.PinIn{}
	for _, n := range names {
		n = strings.TrimSpace(n)
		p := gpioreg.ByName(n)
		if p == nil {
			return nil, fmt.Errorf("gpio: no line %q on this machine (gpioreg has %d lines)", n, len(gpioreg.All()))
		}
		pins[n] = p
	}
	return pins, nil
}

func describeEvent(e trace.Event) string {
	var parts []string
	if e.Dev != nil {
		parts = append(parts, fmt.Sprintf("dev %d bytes", len(e.Dev)))
	}
	if e.Host != nil {
		parts = append(parts, fmt.Sprintf("host %d bytes", len(e.Host)))
	}
	if e.GPIO != nil {
		parts = append(parts, fmt.Sprintf("gpio %s=%d", e.GPIO.Line, e.GPIO.Level))
	}
	if e.USB != nil {
		parts = append(parts, fmt.Sprintf("usb ep %#02x %d bytes", e.USB.Endpoint, len(e.USB.Data)))
	}
	if e.Note != "" {
		parts = append(parts, "note")
	}
	if e.Unplug {
		parts = append(parts, "unplug")
	}
	if e.Replug {
		parts = append(parts, "replug")
	}
	return fmt.Sprintf("hwtest: t=%.3fs %s", e.T.Seconds(), strings.Join(parts, ", "))
}
