package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/transport"
	"github.com/kordon/kordon/internal/usbhid"
	"github.com/kordon/kordon/internal/usbhid/usbhidtest"
)

// Golden is the part of a reading a golden file pins: what the driver
// decided, not when it happened to run.
type Golden struct {
	Kind    string          `json:"kind"`
	Quality reading.Quality `json:"quality"`
	Payload json.RawMessage `json:"payload"`
	// T, when set (by hand or by a recorder), is the trace time in seconds
	// of the frame's first byte; rigs check it within their timing tolerance.
	T *float64 `json:"t,omitempty"`
}

// GoldenOf reduces a reading to its golden form.
func GoldenOf(r reading.Reading) (Golden, error) {
	p, err := json.Marshal(r.Payload)
	if err != nil {
		return Golden{}, err
	}
	return Golden{Kind: r.Kind(), Quality: r.Quality, Payload: p}, nil
}

// ReplayThroughPTY plays a serial trace into a fresh pseudo-terminal as fast
// as ordering allows, runs the driver on it through its real serial path
// (go.bug.st/serial), and returns what the driver reported once the trace
// has been played and the driver has gone quiet.
func ReplayThroughPTY(ctx context.Context, drv device.Driver, tr *trace.Trace, speed float64) (*drivertest.Output, error) {
	return replayPTY(ctx, drv, tr, replay.Options{Speed: speed})
}

// PaceOf is how a trace is replayed: as its header says, or else as fast
// as ordering allows (polls still wait for their requests). ok says
// whether the header said so.
func PaceOf(tr *trace.Trace) (p trace.Pace, ok bool) {
	if tr.Header.Replay != nil {
		return *tr.Header.Replay, true
	}
	return trace.Pace{Speed: 0}, false
}

// Replay plays a trace into the driver through the transport its header
// names (serial through a pty, usb through the HID seam) at pace p.
func Replay(ctx context.Context, drv device.Driver, tr *trace.Trace, p trace.Pace) (*drivertest.Output, error) {
	o := replay.Options{Speed: p.Speed, MaxGap: time.Duration(p.MaxGap * float64(time.Second))}
	switch tr.Header.Transport {
	case "", "serial":
		return replayPTY(ctx, drv, tr, o)
	case "usb":
		return replayUSB(ctx, drv, tr, o)
	}
	return nil, fmt.Errorf("transport %q: the harness replays serial and usb traces", tr.Header.Transport)
}

func replayPTY(ctx context.Context, drv device.Driver, tr *trace.Trace, ro replay.Options) (*drivertest.Output, error) {
	p, err := replay.OpenPTY("")
	if err != nil {
		return nil, err
	}
	defer p.Close()
	opts, err := tr.Header.OptionsNode()
	if err != nil {
		return nil, err
	}
	clock := traceClock(tr)
	serialCfg := transport.Config{Type: "serial", Path: p.Path, Baud: 9600}
	watch := &watchedPort{entered: make(chan int64, 1)}
	// The real serial path, watched so the harness knows when the driver
	// has consumed every byte and asked for more.
	cfg := drivertest.NewConfig(device.Options{File: "trace header", Node: opts},
		drivertest.Transport(serialCfg), drivertest.Clock(clock),
		drivertest.Stream(func(context.Context) (transport.Port, error) {
			port, err := transport.OpenSerial(serialCfg)
			if err != nil {
				return nil, err
			}
			watch.set(port)
			return watch, nil
		}))
	dev, err := drv.Build(cfg)
	if err != nil {
		return nil, err
	}
	col := drivertest.NewOutput()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- dev.Run(ctx, col) }()
	// Wait for the driver to open the port before playing, as a real
	// device's bytes before the port is open would be lost.
	for {
		changed := col.Changed() // before the look: an Up in between still wakes it
		if col.Ups() > 0 {
			break
		}
		select {
		case <-changed:
		case err := <-runErr:
			return col, fmt.Errorf("driver stopped before opening: %w", err)
		case <-ctx.Done():
			return col, ctx.Err()
		}
	}
	if err := replay.Serial(ctx, tr, p.Device, ro); err != nil {
		return col, err
	}
	var written int64
	for _, e := range tr.Events {
		written += int64(len(e.Dev))
	}
	// Done when the driver has read every byte and then gone through one
	// more read that found nothing: it has acted on all it was sent.
	idleReads := 0
	for idleReads < 2 {
		select {
		case n := <-watch.entered:
			if n >= written {
				idleReads++
			}
		case err := <-runErr:
			return col, err
		case <-ctx.Done():
			return col, ctx.Err()
		}
	}
	cancel()
	if err := <-runErr; err != nil && ctx.Err() == nil {
		return col, err
	}
	return col, nil
}

// watchedPort reports, each time the driver calls Read, how many bytes it
// has been given so far.
type watchedPort struct {
	transport.Port
	total   atomic.Int64
	entered chan int64
}

func (w *watchedPort) set(p transport.Port) { w.Port = p }

func (w *watchedPort) Read(b []byte) (int, error) {
	select {
	case w.entered <- w.total.Load():
	default:
		// Replace a stale count with the fresh one.
		select {
		case <-w.entered:
		default:
		}
		select {
		case w.entered <- w.total.Load():
		default:
		}
	}
	n, err := w.Port.Read(b)
	w.total.Add(int64(n))
	return n, err
}

// traceClock is the box clock during a replay: the trace's recording time.
func traceClock(tr *trace.Trace) func() time.Time {
	t0 := tr.Header.Recorded
	if t0.IsZero() {
		t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	start := time.Now()
	return func() time.Time { return t0.Add(time.Since(start)) }
}

// CompareGolden compares readings with a golden file and returns a
// description of every difference ("" when they match).
func CompareGolden(got []reading.Reading, goldenPath string) (string, error) {
	want, err := ReadGolden(goldenPath)
	if err != nil {
		return "", err
	}
	diffs, err := Compare(got, want, Tolerance{}, nil)
	if err != nil {
		return "", err
	}
	return JoinDiffs(diffs), nil
}

// WriteGolden writes readings as a golden file.
func WriteGolden(got []reading.Reading, goldenPath string) error {
	var b bytes.Buffer
	for _, r := range got {
		g, err := GoldenOf(r)
		if err != nil {
			return err
		}
		b.Write(mustJSON(g))
		b.WriteByte('\n')
	}
	if err := os.MkdirAll(filepath.Dir(goldenPath), 0o755); err != nil {
		return err
	}
	return os.WriteFile(goldenPath, b.Bytes(), 0o644)
}

// ReadGolden reads a golden file: one Golden per line.
func ReadGolden(path string) ([]Golden, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Golden
	for i, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var g Golden
		if err := json.Unmarshal(line, &g); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		out = append(out, g)
	}
	return out, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// ReplayUSB plays a USB trace into a usbhidtest.Device handed to the driver
// through its OpenHID seam, as fast as ordering allows (polls are answered
// only once the driver has written them), and returns what the driver
// reported once it has read every report and gone back for more.
// speed is as for ReplayThroughPTY. The driver is given the USB ids the
// trace header names (ffff:ffff when it names none).
func ReplayUSB(ctx context.Context, drv device.Driver, tr *trace.Trace, speed float64) (*drivertest.Output, error) {
	return replayUSB(ctx, drv, tr, replay.Options{Speed: speed})
}

func replayUSB(ctx context.Context, drv device.Driver, tr *trace.Trace, ro replay.Options) (*drivertest.Output, error) {
	opts, err := tr.Header.OptionsNode()
	if err != nil {
		return nil, err
	}
	rep := usbhidtest.New()
	player := replay.NewUSBPlayer(rep)
	w := &watchedHID{Device: rep, entered: make(chan int64, 1)}
	id, ok := tr.Header.USBID()
	if !ok {
		id = trace.USBDevice{Vendor: "ffff", Product: "ffff"}
	}
	cfg := drivertest.NewConfig(device.Options{File: "trace header", Node: opts},
		drivertest.Transport(transport.Config{Type: "usb", Vendor: id.Vendor, Product: id.Product}),
		drivertest.Clock(traceClock(tr)),
		drivertest.HID(func(usbhid.ID) (usbhid.Device, error) { return w, nil }))
	dev, err := drv.Build(cfg)
	if err != nil {
		return nil, err
	}
	col := drivertest.NewOutput()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- dev.Run(ctx, col) }()
	for {
		changed := col.Changed() // before the look: an Up in between still wakes it
		if col.Ups() > 0 {
			break
		}
		select {
		case <-changed:
		case err := <-runErr:
			return col, fmt.Errorf("driver stopped before opening: %w", err)
		case <-ctx.Done():
			return col, ctx.Err()
		}
	}
	replayErr := make(chan error, 1)
	go func() { replayErr <- player.Play(ctx, tr, ro) }()
	var pushed int64
	for _, e := range tr.Events {
		if e.USB != nil && e.USB.Endpoint&0x80 != 0 {
			pushed++
		}
	}
	// Done once the replay is over and the driver has entered a read with
	// every report already taken: it has acted on all of them.
	replayed, seen := false, int64(-1)
	for {
		select {
		case seen = <-w.entered:
		case err := <-replayErr:
			if err != nil {
				return col, err
			}
			replayed = true
		case err := <-runErr:
			return col, err
		case <-ctx.Done():
			return col, ctx.Err()
		}
		if replayed && seen >= pushed {
			cancel()
			if err := <-runErr; err != nil && ctx.Err() == nil {
				return col, err
			}
			return col, nil
		}
	}
}

// watchedHID reports, each time the driver enters ReadReport, how many
// reports it has been given so far.
type watchedHID struct {
	usbhid.Device
	got     atomic.Int64
	entered chan int64
}

func (w *watchedHID) ReadReport(ctx context.Context, b []byte) (int, error) {
	select {
	case <-w.entered:
	default:
	}
	select {
	case w.entered <- w.got.Load():
	default:
	}
	n, err := w.Device.ReadReport(ctx, b)
	if err == nil {
		w.got.Add(1)
	}
	return n, err
}

func (w *watchedHID) Close() error { return nil }
