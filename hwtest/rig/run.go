package rig

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/edge"
	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/transport"
	"github.com/kordon/kordon/internal/usbhid"
	"github.com/kordon/kordon/internal/usbhid/usbhidtest"
)

// Options tune a run.
type Options struct {
	// Progress, when set, gets a status line every ProgressEvery (default
	// 2s) while the run lasts: long replays show how far they are.
	Progress      io.Writer
	ProgressEvery time.Duration
	// Log receives edged's and the hub's logs; nil discards them.
	Log *slog.Logger
	// WorkDir keeps the box state, hub database and pty links; default a
	// temporary folder removed afterwards.
	WorkDir string
}

// Run runs the rig and returns its result. An error means the rig could
// not be run at all; mismatches are in the result (Result.Failed).
func Run(ctx context.Context, r *Rig, drivers []device.Driver, o Options) (*Result, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 2 * time.Second
	}
	work := o.WorkDir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "hwtest-rig-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(work)
	}
	started := time.Now()
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()

	// One signal for everything that can move the run forward: device
	// opens, reads, emits, replay ends, and readings or alerts at the sink.
	changed := make(chan struct{}, 1)
	devs := make([]*devRun, len(r.Devices))
	for i := range r.Devices {
		d := &r.Devices[i]
		dr := &devRun{spec: d, changed: changed, events: len(d.trace.Events)}
		dr.clock.t0 = d.trace.Header.Recorded
		if dr.clock.t0.IsZero() {
			dr.clock.t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		if d.trace.Header.Transport == "usb" {
			dr.usb = usbhidtest.New()
			dr.player = replay.NewUSBPlayer(dr.usb) // before edged can write to it
		} else {
			p, err := replay.OpenPTY(filepath.Join(work, "tty-"+d.ID))
			if err != nil {
				return nil, err
			}
			defer p.Close()
			dr.pty = p
		}
		devs[i] = dr
	}

	s, err := startSink(r, work, changed, o.Log)
	if err != nil {
		return nil, err
	}
	defer s.close()

	box, err := buildBox(r, devs, s, work, drivers, o.Log)
	if err != nil {
		return nil, err
	}
	boxCtx, stopBox := context.WithCancel(ctx)
	boxDone := make(chan struct{})
	go func() { box.Run(boxCtx); close(boxDone) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			stopBox()
			<-boxDone
		}
	}
	defer stop()

	var wg sync.WaitGroup
	for _, dr := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dr.play(ctx, r)
		}()
	}

	tick := time.NewTicker(o.ProgressEvery)
	defer tick.Stop()
	var waitErr error
	for !done(devs, s, r) {
		select {
		case <-ctx.Done():
			waitErr = fmt.Errorf("rig did not finish within %s: %s", r.Timeout, stuck(devs, s))
		case <-changed:
		case <-tick.C:
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "[%s] %s\n", time.Since(started).Round(time.Second), progress(devs, s))
			}
		}
		if waitErr != nil {
			break
		}
	}
	stop()
	cancel()
	wg.Wait()
	res, err := s.collect(r)
	if err != nil {
		return nil, err
	}
	res.Rig, res.File, res.Elapsed, res.Speed = r.Name, r.File, time.Since(started), r.Speed
	res.evaluate(r, devs, waitErr)
	return res, nil
}

// devRun is one device during a run.
type devRun struct {
	spec   *Device
	pty    *replay.PTY
	usb    *usbhidtest.Device
	player *replay.USBPlayer
	events int
	clock  traceClock

	changed  chan struct{}
	opens    atomic.Int64 // times the driver opened the port
	reads    atomic.Int64 // times the driver entered Read
	running  atomic.Int64 // driver Runs in progress
	emitted  atomic.Int64
	played   atomic.Int64 // trace events played
	unplugs  atomic.Int64 // replugs completed
	usbIn    atomic.Int64 // reports handed to the driver
	lastData atomic.Int64 // number of the last read that returned data
	quiet    atomic.Int64 // reads entered after the replay ended with nothing pending
	usbPush  int64
	finished atomic.Bool // replay over
	gone     atomic.Bool // unplugged for good

	mu         sync.Mutex
	replayErr  error
	unexpected []string
	opened     chan struct{} // closed at the next open
}

func (d *devRun) poke() {
	select {
	case d.changed <- struct{}{}:
	default:
	}
}

// traceClock is the box clock for a device: the trace's recording time,
// running from the moment its replay starts.
type traceClock struct {
	t0    time.Time
	start atomic.Pointer[time.Time]
}

func (c *traceClock) now() time.Time {
	s := c.start.Load()
	if s == nil {
		return c.t0
	}
	return c.t0.Add(time.Since(*s))
}

// offset is a reading's origin in trace time (wall time scaled by speed).
func (c *traceClock) offset(r reading.Reading, speed float64) time.Duration {
	return time.Duration(float64(r.Origin.Sub(c.t0)) * speed)
}

// play waits for the driver to open its port, then replays the trace.
func (d *devRun) play(ctx context.Context, r *Rig) {
	defer func() { d.finished.Store(true); d.poke() }()
	if opened := d.openedCh(); d.opens.Load() == 0 {
		select {
		case <-ctx.Done():
			return
		case <-opened:
		}
	}
	now := time.Now()
	d.clock.start.Store(&now)
	o := replay.Options{
		Speed: r.Speed, MaxGap: r.MaxGap, ExpectTimeout: r.ExpectTimeout,
		OnEvent: func(int, trace.Event) { d.played.Add(1) },
		Unexpected: func(want, got []byte) {
			d.mu.Lock()
			if len(d.unexpected) < 20 {
				d.unexpected = append(d.unexpected, fmt.Sprintf("host sent % x while the trace expected % x", got, want))
			}
			d.mu.Unlock()
		},
	}
	var err error
	if d.usb != nil {
		for _, e := range d.spec.trace.Events {
			if e.USB != nil && e.USB.Endpoint&0x80 != 0 {
				d.usbPush++
			}
		}
		err = d.player.Play(ctx, d.spec.trace, o)
	} else {
		o.Plug = &plug{d: d}
		err = replay.Serial(ctx, d.spec.trace, d.pty.Device, o)
	}
	if err != nil && ctx.Err() == nil {
		d.mu.Lock()
		d.replayErr = err
		d.mu.Unlock()
	}
}

// openedCh is closed the next time the driver opens its port.
func (d *devRun) openedCh() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.opened == nil {
		d.opened = make(chan struct{})
	}
	return d.opened
}

func (d *devRun) noteOpen() {
	d.opens.Add(1)
	d.mu.Lock()
	if d.opened != nil {
		close(d.opened)
		d.opened = nil
	}
	d.mu.Unlock()
	d.poke()
}

// settled says the device has nothing more to give: its replay is over and
// its driver has taken every byte and acted on it, or the device is gone
// for good and its driver stopped. "Acted on it" is seen from the reads (see
// watchedPort.Read): two reads begun after the replay ended with nothing
// pending on the line.
func (d *devRun) settled() bool {
	if !d.finished.Load() {
		return false
	}
	d.mu.Lock()
	failed := d.replayErr != nil
	d.mu.Unlock()
	if failed {
		return true
	}
	if d.gone.Load() {
		return d.running.Load() == 0
	}
	if d.usb != nil {
		// A HID read takes a whole report off the queue at once, so one
		// read entered after the last report was returned is enough.
		return d.usbPush == d.usbIn.Load() && d.reads.Load() > d.lastData.Load()
	}
	if _, err := d.pty.Pending(); err != nil {
		return d.running.Load() == 0
	}
	return d.quiet.Load() >= 2
}

func done(devs []*devRun, s *sink, r *Rig) bool {
	for _, d := range devs {
		if !d.settled() {
			return false
		}
	}
	for _, d := range devs {
		if s.count(d.spec.ID) < d.emitted.Load() {
			return false
		}
	}
	return s.alertsSettled()
}

func progress(devs []*devRun, s *sink) string {
	var parts []string
	for _, d := range devs {
		pct := 100
		if d.events > 0 {
			pct = int(100 * d.played.Load() / int64(d.events))
		}
		parts = append(parts, fmt.Sprintf("%s %d/%d events (%d%%), %d readings emitted, %d at the %s",
			d.spec.ID, d.played.Load(), d.events, pct, d.emitted.Load(), s.count(d.spec.ID), s.kind()))
	}
	return strings.Join(parts, "; ")
}

func stuck(devs []*devRun, s *sink) string {
	var parts []string
	for _, d := range devs {
		switch {
		case d.opens.Load() == 0:
			parts = append(parts, d.spec.ID+": the driver never opened its port")
		case !d.finished.Load():
			parts = append(parts, fmt.Sprintf("%s: replay stuck at event %d of %d", d.spec.ID, d.played.Load()+1, d.events))
		case !d.settled():
			parts = append(parts, d.spec.ID+": the driver has not read everything the device sent")
		case s.count(d.spec.ID) < d.emitted.Load():
			parts = append(parts, fmt.Sprintf("%s: %d readings emitted, only %d reached the %s", d.spec.ID, d.emitted.Load(), s.count(d.spec.ID), s.kind()))
		}
	}
	if !s.alertsSettled() {
		parts = append(parts, "alerts raised by the hub have not all been published")
	}
	if len(parts) == 0 {
		return "nothing pending"
	}
	return strings.Join(parts, "; ")
}

// plug carries out a trace's unplug and replug on the device's pty.
type plug struct{ d *devRun }

func (p *plug) Unplug() error {
	p.d.gone.Store(true)
	return p.d.pty.Unplug()
}

// Replug waits until edged has reopened the port, as bytes a device sends
// before the host has the port open are lost on a real line too.
func (p *plug) Replug(ctx context.Context) (io.ReadWriter, error) {
	opened := p.d.openedCh()
	w, err := p.d.pty.Replug(ctx)
	if err != nil {
		return nil, err
	}
	p.d.gone.Store(false)
	select {
	case <-opened:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.d.unplugs.Add(1)
	return w, nil
}

// buildBox writes a box config for the rig, loads it with edged's own
// config loader, and points each device at its replay.
func buildBox(r *Rig, devs []*devRun, s *sink, work string, drivers []device.Driver, log *slog.Logger) (*edge.Box, error) {
	type entry struct {
		ID        string         `yaml:"id"`
		Driver    string         `yaml:"driver"`
		Transport map[string]any `yaml:"transport"`
		Options   *yaml.Node     `yaml:"options,omitempty"`
	}
	cfg := map[string]any{
		"crossing": r.Crossing, "box": r.Box, "state_dir": filepath.Join(work, "box"),
		"hub": map[string]any{"address": "tcp://" + s.addr, "username": r.Box, "password": s.password},
	}
	var entries []entry
	for _, d := range devs {
		t := map[string]any{}
		for k, v := range d.spec.Transport {
			t[k] = v
		}
		if d.usb != nil {
			t["type"] = "usb"
			if t["vendor"] == nil {
				t["vendor"], t["product"] = "ffff", "ffff"
			}
		} else {
			t["type"], t["path"] = "serial", d.pty.Path
		}
		e := entry{ID: d.spec.ID, Driver: d.spec.Driver, Transport: t}
		if d.spec.Options.Kind != 0 {
			e.Options = &d.spec.Options
		}
		entries = append(entries, e)
	}
	cfg["devices"] = entries
	src, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(work, "edged.yaml")
	if err := os.WriteFile(cfgPath, src, 0o600); err != nil {
		return nil, err
	}
	bc, dcs, err := edge.ParseConfig(cfgPath, src, drivers)
	if err != nil {
		return nil, fmt.Errorf("box config: %w", err)
	}
	wrapped := make([]device.Driver, len(drivers))
	byID := map[string]*devRun{}
	for i, d := range devs {
		byID[d.spec.ID] = d
		dc := &dcs[i]
		dc.Clock = d.clock.now
		if d.usb != nil {
			dev := d
			dc.HID = func(usbhid.ID) (usbhid.Device, error) {
				dev.noteOpen()
				return &watchedHID{Device: dev.usb, d: dev}, nil
			}
			continue
		}
		tc := dc.Transport
		dev := d
		dc.Stream = func(context.Context) (transport.Port, error) {
			p, err := transport.OpenSerial(tc)
			if err != nil {
				return nil, err
			}
			dev.noteOpen()
			return &watchedPort{Port: p, d: dev}, nil
		}
	}
	for i, drv := range drivers {
		wrapped[i] = watchDriver(drv, byID)
	}
	return edge.New(bc, dcs, wrapped, log)
}

// watchDriver wraps a family so the rig sees when a device's driver runs
// and emits. Readings still flow only through edged's own output.
func watchDriver(drv device.Driver, byID map[string]*devRun) device.Driver {
	inner := drv.New
	drv.New = func(cfg device.Config) (device.Device, error) {
		dev, err := inner(cfg)
		if err != nil || byID[cfg.ID] == nil {
			return dev, err
		}
		return &watchedDevice{Device: dev, d: byID[cfg.ID]}, nil
	}
	return drv
}

type watchedDevice struct {
	device.Device
	d *devRun
}

func (w *watchedDevice) Run(ctx context.Context, out device.Output) error {
	w.d.running.Add(1)
	defer func() { w.d.running.Add(-1); w.d.poke() }()
	return w.Device.Run(ctx, &countingOutput{Output: out, d: w.d})
}

type countingOutput struct {
	device.Output
	d *devRun
}

func (c *countingOutput) Emit(r reading.Reading) error {
	err := c.Output.Emit(r) // edged stamps, stores in the outbox, publishes
	c.d.emitted.Add(1)
	c.d.poke()
	return err
}

type watchedPort struct {
	transport.Port
	d *devRun
}

func (w *watchedPort) Read(b []byte) (int, error) {
	k := w.d.reads.Add(1)
	// A driver reads in one goroutine: when a read begins, the previous
	// one has returned and its bytes have been acted on. So a read that
	// begins after the replay ended, with nothing pending on the line,
	// proves every byte sent was taken and handled. (Counting reads that
	// returned data instead races with a read still on its way back.)
	if w.d.finished.Load() {
		if n, err := w.d.pty.Pending(); err == nil && n == 0 {
			w.d.quiet.Add(1)
		} else {
			w.d.quiet.Store(0)
		}
	}
	w.d.poke()
	n, err := w.Port.Read(b)
	if n > 0 {
		w.d.lastData.Store(k)
	}
	return n, err
}

type watchedHID struct {
	usbhid.Device
	d *devRun
}

func (w *watchedHID) ReadReport(ctx context.Context, b []byte) (int, error) {
	k := w.d.reads.Add(1)
	w.d.poke()
	n, err := w.Device.ReadReport(ctx, b)
	if err == nil {
		w.d.lastData.Store(k)
		w.d.usbIn.Add(1)
		w.d.poke()
	}
	return n, err
}

func (w *watchedHID) Close() error { return nil } // the replay outlives one Run

// sortAlerts orders alerts for stable reports.
func sortAlerts(as []contract.Alert) {
	sort.Slice(as, func(i, j int) bool {
		if as[i].Device != as[j].Device {
			return as[i].Device < as[j].Device
		}
		if as[i].Rule != as[j].Rule {
			return as[i].Rule < as[j].Rule
		}
		return as[i].ID < as[j].ID
	})
}
