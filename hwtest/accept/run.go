package accept

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kordon/kordon/edge"
	"github.com/kordon/kordon/hwtest/record"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/transport"
	"github.com/kordon/kordon/internal/usbhid"
	"github.com/kordon/kordon/internal/version"
)

// Options are where a session talks and writes.
type Options struct {
	BoxConfig string    // overrides the plan's box_config
	In        io.Reader // the installer's answers (Enter to go on, "s" to skip)
	Out       io.Writer // prompts and results
	OutDir    string    // traces/ and the report go here
	Format    string    // "md" (default) or "html"
	Drivers   []device.Driver
	Log       *slog.Logger // edged's log; nil discards
	// Deliver bounds the wait, after the last step, for the box to hand
	// every reading to the hub (default 15s).
	Deliver time.Duration
}

// Run runs an acceptance session and writes its report. The error is only
// for a session that could not run; failed steps are in the report.
func Run(ctx context.Context, p *Plan, o Options) (*Report, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Deliver <= 0 {
		o.Deliver = 15 * time.Second
	}
	cfgPath := p.BoxConfig
	if o.BoxConfig != "" {
		cfgPath = o.BoxConfig
	}
	if cfgPath == "" {
		return nil, errors.New("no box config: set box_config in the plan or pass -config")
	}
	cfg, devs, err := edge.LoadConfig(cfgPath, o.Drivers)
	if err != nil {
		return nil, err
	}
	known := map[string]int{}
	for i, d := range devs {
		known[d.ID] = i
	}
	for i, s := range p.Steps {
		if _, ok := known[s.Device]; !ok {
			return nil, fmt.Errorf("%s: steps[%d]: device %q is not in %s", p.File, i, s.Device, cfgPath)
		}
	}
	if err := os.MkdirAll(filepath.Join(o.OutDir, "traces"), 0o755); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	rep := &Report{
		Plan: p.Name, Crossing: cfg.Crossing, Box: cfg.Box, Firmware: version.Version, Host: host,
		Hub: cfg.Hub.Address, Config: cfgPath, Started: time.Now(),
	}

	// Every device's traffic is recorded while the real drivers run.
	recs := map[string]*record.Recorder{}
	for i := range devs {
		dc := &devs[i]
		entry := cfg.Devices[i]
		path := filepath.Join(o.OutDir, "traces", dc.ID+".jsonl")
		f, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		var opts map[string]any
		if entry.Options.Kind != 0 {
			entry.Options.Decode(&opts)
		}
		rec, err := record.New(f, trace.Header{
			Device: dc.ID, Driver: entry.Driver, Transport: dc.Transport.Type, Options: opts,
			Source: fmt.Sprintf("acceptance %q on %s/%s, firmware %s", p.Name, cfg.Crossing, cfg.Box, version.Version),
		})
		if err != nil {
			return nil, err
		}
		recs[dc.ID] = rec
		rep.Devices = append(rep.Devices, DeviceInfo{ID: dc.ID, Driver: entry.Driver, Transport: describe(dc.Transport)})
		rep.Traces = append(rep.Traces, path)
		switch dc.Transport.Type {
		case "serial":
			tc := dc.Transport
			dc.Stream = func(ctx context.Context) (transport.Port, error) {
				port, err := transport.Open(ctx, tc)
				if err != nil {
					return nil, err
				}
				return &record.Tap{Port: port, Rec: rec}, nil
			}
		case "usb":
			if open := dc.HID; open != nil {
				dc.HID = func(id usbhid.ID) (usbhid.Device, error) {
					d, err := open(id)
					if err != nil {
						return nil, err
					}
					return &record.TapHID{Device: d, Rec: rec}, nil
				}
			}
		}
	}

	w := newWatch()
	drivers := make([]device.Driver, len(o.Drivers))
	for i, d := range o.Drivers {
		drivers[i] = w.wrap(d)
	}
	box, err := edge.New(cfg, devs, drivers, o.Log)
	if err != nil {
		return nil, err
	}
	boxCtx, stopBox := context.WithCancel(ctx)
	boxDone := make(chan struct{})
	go func() { box.Run(boxCtx); close(boxDone) }()
	defer func() { stopBox(); <-boxDone }()

	out := o.Out
	fmt.Fprintf(out, "Commissioning %s/%s (firmware %s) — %s\n", cfg.Crossing, cfg.Box, version.Version, p.Name)
	fmt.Fprintf(out, "Waiting for %d devices to come up (up to %s)...\n", len(devs), p.UpWithin)
	upBy := time.Now().Add(p.UpWithin)
	for _, d := range devs {
		ok := w.waitUp(ctx, d.ID, upBy)
		rep.setUp(d.ID, ok)
		if ok {
			fmt.Fprintf(out, "  %s is up\n", d.ID)
		} else {
			fmt.Fprintf(out, "  %s did NOT come up: check its cable and port\n", d.ID)
		}
	}

	answers := bufio.NewReader(o.In)
	for i, s := range p.Steps {
		res := StepResult{N: i + 1, Prompt: s.Prompt, Device: s.Device, Within: s.Within}
		w.clear(s.Device)
		recs[s.Device].Note(fmt.Sprintf("step %d: %s", i+1, s.Prompt))
		fmt.Fprintf(out, "\nStep %d/%d: %s\n  Press Enter when done (s + Enter to skip). ", i+1, len(p.Steps), s.Prompt)
		line, err := answers.ReadString('\n')
		if err != nil && line == "" {
			res.Outcome, res.Detail = Skipped, "no answer (input ended)"
			rep.Steps = append(rep.Steps, res)
			fmt.Fprintf(out, "\n  SKIPPED: input ended\n")
			continue
		}
		if strings.EqualFold(strings.TrimSpace(line), "s") {
			res.Outcome, res.Detail = Skipped, "skipped by the installer"
			rep.Steps = append(rep.Steps, res)
			fmt.Fprintf(out, "  SKIPPED\n")
			continue
		}
		fmt.Fprintf(out, "  waiting up to %s for %s...\n", s.Within, s.Device)
		start := time.Now()
		res.Outcome, res.Detail = w.await(ctx, s, start.Add(s.Within))
		res.Took = time.Since(start)
		rep.Steps = append(rep.Steps, res)
		switch res.Outcome {
		case Passed:
			fmt.Fprintf(out, "  PASS (%s)\n", res.Took.Round(time.Millisecond))
		default:
			fmt.Fprintf(out, "  FAIL: %s\n", res.Detail)
		}
	}

	// The booth is only commissioned when its readings reach the hub.
	deliverBy := time.Now().Add(o.Deliver)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	// edged offers no change notification for its outbox, so its status is
	// looked at every tick until the deadline.
deliver:
	for {
		st := box.Status()
		rep.HubConnected, rep.OutboxBytes = st.Connected, st.OutboxBytes
		if (st.Connected && st.OutboxBytes == 0) || time.Now().After(deliverBy) {
			break
		}
		select {
		case <-ctx.Done():
			break deliver
		case <-tick.C:
		}
	}
	rep.Finished = time.Now()
	stopBox()
	<-boxDone
	for _, r := range recs {
		if err := r.Err(); err != nil {
			rep.Notes = append(rep.Notes, "trace write failed: "+err.Error())
		}
	}
	path, err := rep.Write(o.OutDir, o.Format)
	if err != nil {
		return rep, err
	}
	rep.Path = path
	fmt.Fprintf(out, "\n%s: %d passed, %d failed, %d skipped; readings delivered to the hub: %s\nReport: %s\n",
		rep.Verdict(), rep.count(Passed), rep.count(Failed), rep.count(Skipped), yesNo(rep.Delivered()), path)
	return rep, nil
}

func describe(t transport.Config) string {
	switch t.Type {
	case "serial":
		return "serial " + t.Path
	case "usb":
		return "usb " + t.Vendor + ":" + t.Product
	}
	return t.Type
}

// watch sees, through wrapped drivers, each device's state and readings.
type watch struct {
	mu       sync.Mutex
	up       map[string]bool
	readings map[string][]reading.Reading
	changed  chan struct{} // closed and replaced on every change
}

func newWatch() *watch {
	return &watch{up: map[string]bool{}, readings: map[string][]reading.Reading{}, changed: make(chan struct{})}
}

func (w *watch) signal() {
	close(w.changed)
	w.changed = make(chan struct{})
}

func (w *watch) wrap(drv device.Driver) device.Driver {
	inner := drv.New
	drv.New = func(cfg device.Config) (device.Device, error) {
		d, err := inner(cfg)
		if err != nil {
			return nil, err
		}
		return runFunc(func(ctx context.Context, out device.Output) error {
			return d.Run(ctx, &tee{Output: out, w: w, id: cfg.ID})
		}), nil
	}
	return drv
}

type runFunc func(ctx context.Context, out device.Output) error

func (f runFunc) Run(ctx context.Context, out device.Output) error { return f(ctx, out) }

// tee passes everything to edged's output and tells the watch.
type tee struct {
	device.Output
	w  *watch
	id string
}

func (t *tee) Emit(r reading.Reading) error {
	err := t.Output.Emit(r)
	t.w.mu.Lock()
	t.w.readings[t.id] = append(t.w.readings[t.id], r)
	t.w.signal()
	t.w.mu.Unlock()
	return err
}

func (t *tee) Up() {
	t.Output.Up()
	t.w.mu.Lock()
	t.w.up[t.id] = true
	t.w.signal()
	t.w.mu.Unlock()
}

func (w *watch) waitUp(ctx context.Context, id string, by time.Time) bool {
	tm := time.NewTimer(time.Until(by))
	defer tm.Stop()
	for {
		w.mu.Lock()
		up, ch := w.up[id], w.changed
		w.mu.Unlock()
		if up {
			return true
		}
		select {
		case <-ch:
		case <-tm.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

func (w *watch) clear(id string) {
	w.mu.Lock()
	w.readings[id] = nil
	w.mu.Unlock()
}

// await waits for a reading from the step's device that matches; readings
// that do not match are remembered, and the last one explains a failure.
func (w *watch) await(ctx context.Context, s Step, by time.Time) (Outcome, string) {
	tm := time.NewTimer(time.Until(by))
	defer tm.Stop()
	seen := 0
	var last []string
	for {
		w.mu.Lock()
		rs, ch := w.readings[s.Device], w.changed
		w.mu.Unlock()
		for ; seen < len(rs); seen++ {
			diffs := match(s.Expect, rs[seen])
			if len(diffs) == 0 {
				return Passed, fmt.Sprintf("%s reading matched", rs[seen].Kind())
			}
			last = diffs
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return Failed, "session interrupted"
		case <-tm.C:
			if seen == 0 {
				return Failed, fmt.Sprintf("no reading from %s within %s", s.Device, s.Within)
			}
			return Failed, fmt.Sprintf("%d readings from %s within %s, none as expected; last: %s", seen, s.Device, s.Within, strings.Join(last, "; "))
		}
	}
}

// match lists how a reading differs from what a step expects. Values at
// personal-data paths are never quoted.
func match(e Expect, r reading.Reading) []string {
	var diffs []string
	if e.Kind != "" && r.Kind() != e.Kind {
		diffs = append(diffs, fmt.Sprintf("kind: want %s, got %s", e.Kind, r.Kind()))
	}
	if e.Quality != "" && string(r.Quality.Status) != e.Quality {
		d := fmt.Sprintf("quality: want %s, got %s", e.Quality, r.Quality.Status)
		if r.Quality.Reason != "" {
			d += " (" + r.Quality.Reason + ")"
		}
		diffs = append(diffs, d)
	}
	if len(e.Payload) == 0 {
		return diffs
	}
	b, err := json.Marshal(r.Payload)
	if err != nil {
		return append(diffs, "payload: "+err.Error())
	}
	var got any
	json.Unmarshal(b, &got)
	var want any
	wb, _ := json.Marshal(normalise(e.Payload))
	json.Unmarshal(wb, &want)
	personal := map[string]bool{}
	for _, p := range reading.PersonalPointers(r.Payload) {
		personal[p] = true
	}
	subset("/payload", want, got, e.Tolerance, personal, &diffs)
	return diffs
}

// normalise turns YAML's map[string]any trees (and map[any]any from older
// decoders) into JSON-marshalable values.
func normalise(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range t {
			out[k] = normalise(x)
		}
		return out
	case map[any]any:
		out := map[string]any{}
		for k, x := range t {
			out[fmt.Sprint(k)] = normalise(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = normalise(x)
		}
		return out
	case time.Time:
		// YAML reads an unquoted 1974-08-12 as a timestamp; payloads carry dates as text.
		if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 {
			return t.Format("2006-01-02")
		}
		return t.Format(time.RFC3339)
	}
	return v
}

func subset(path string, want, got any, tol map[string]float64, personal map[string]bool, out *[]string) {
	if wm, ok := want.(map[string]any); ok {
		gm, _ := got.(map[string]any)
		keys := make([]string, 0, len(wm))
		for k := range wm {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			var gv any
			if gm != nil {
				gv = gm[k]
			}
			subset(path+"/"+k, wm[k], gv, tol, personal, out)
		}
		return
	}
	if wn, ok := want.(float64); ok {
		if gn, ok := got.(float64); ok && math.Abs(wn-gn) <= tol[path] {
			return
		}
	} else if string(mustJSON(want)) == string(mustJSON(got)) {
		return
	}
	if personal[path] {
		*out = append(*out, path+": differs (personal data, values withheld)")
		return
	}
	*out = append(*out, fmt.Sprintf("%s: want %s, got %s", path, mustJSON(want), mustJSON(got)))
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
