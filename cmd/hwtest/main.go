// Command hwtest is the technician's bench tool: record what devices send,
// decode it, replay recorded traces into real driver code, run rigs through
// the real edged pipeline, and run live acceptance on a booth
// (docs/hwtest.md is the guide).
//
//	hwtest record  [-port PATH | -device PATH (-host PATH | -link PATH)] [-gpio LINES] [-usb VID:PID] -o TRACE.jsonl
//	hwtest decode  -driver mrz [-option key=value]... [-now 2026-11-22T10:00:00Z] < bytes
//	hwtest replay  [-loop] [-speed N] [-fault SPEC]... (-link PATH | -port PATH) TRACE.jsonl
//	hwtest run     [-junit FILE] [-speed N] RIG.yaml...
//	hwtest accept  [-config edged.yaml] [-out DIR] [-format md|html] PLAN.yaml
//	hwtest bench   [-hours N] [-driver mrz]
//	hwtest watch   -box URL [-device ID] [-json]
//	hwtest drivers
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/drivers/all"
	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/hwtest/wirefault"
	"github.com/kordon/kordon/internal/cli"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/transport"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// exitError carries an exit code other than 1 (a rig that ran but failed).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// run is the whole command, with its streams passed in so tests can run
// it in process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) < 1 {
		usage(stderr)
		return 2
	}
	var err error
	switch cmd := args[0]; {
	case cli.IsHelp(cmd) && len(args) > 1 && commandHelp[args[1]] != "":
		return run(ctx, []string{args[1], "-h"}, stdin, stdout, stderr)
	case cli.IsHelp(cmd):
		usage(stdout)
		return 0
	case cli.IsVersion(cmd):
		fmt.Fprintln(stdout, cli.Version("hwtest"))
		return 0
	case cmd == "record":
		err = recordCmd(ctx, args[1:], stdin, stdout, stderr)
	case cmd == "decode":
		err = decode(ctx, args[1:], stdin, stdout, stderr)
	case cmd == "replay":
		err = replayCmd(ctx, args[1:], stdout, stderr)
	case cmd == "run":
		err = runCmd(ctx, args[1:], stdout, stderr)
	case cmd == "accept":
		err = acceptCmd(ctx, args[1:], stdin, stdout, stderr)
	case cmd == "bench":
		err = benchCmd(ctx, args[1:], stdout, stderr)
	case cmd == "drivers":
		if len(args) > 1 && cli.IsHelp(args[1]) {
			fmt.Fprintln(stdout, "usage: hwtest drivers\n\nLists the registered driver families: name (for -driver and edged's driver:), payload kind, what it reads.")
			return 0
		}
	case cmd == "watch":
		err = watchCmd(ctx, args[1:], stdout, stderr)
		for _, d := range all.Drivers() {
			fmt.Fprintf(stdout, "%-12s %-12s %s\n", d.Name, d.Kind, d.Doc)
		}
	default:
		fmt.Fprintf(stderr, "hwtest: unknown command %q\n\n", cmd)
		usage(stderr)
		return 2
	}
	if err == nil {
		return 0
	}
	if e, ok := err.(*exitError); ok {
		if e.msg != "" {
			fmt.Fprintln(stderr, "hwtest:", e.msg)
		}
		return e.code
	}
	fmt.Fprintln(stderr, "hwtest:", err)
	return 1
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  hwtest record -o TRACE.jsonl [-driver NAME] [-option k=v]... [-source TEXT] [-duration D] [-v] WHAT
      record a device into a trace; WHAT is one of:
        -port PATH                     passive: what the device on PATH sends (never writes to it)
        -device PATH -host PATH        man in the middle between host software's port and the device
        -device PATH -link PATH        ... host software opens the pseudo-terminal linked at PATH
        -gpio LINE[,LINE]              GPIO input edges (periph.io line names)
        -usb VID:PID [-usb-poll HEX -usb-every D]   USB HID input reports
      lines typed on standard input become notes in the trace; Ctrl-C ends the recording
  hwtest decode -driver NAME [-option key=value]... [-now RFC3339] < raw-bytes
      run a driver's parser on raw device bytes; print normalised readings as JSON lines
      (personal data is shown: this is a technician's tool on their own data)
  hwtest replay [-loop] [-speed N] [-fault SPEC]... [-save FILE] (-link PATH | -port PATH) TRACE.jsonl
      play a recorded trace's device bytes into a new pseudo-terminal (-link: symlink to it)
      or into an existing serial port (-port: e.g. a QEMU chardev pty); -speed 0 as fast as
      ordering allows; -fault "unplug byte=30 for=1s", "corrupt rate=0.001 seed=1", ...
  hwtest run [-junit FILE] [-speed N] [-v] RIG.yaml...
      run rigs through the real edged pipeline (and a hub when alerts are expected);
      exit 1 when any reading or alert differs
  hwtest accept [-config edged.yaml] [-out DIR] [-format md|html] PLAN.yaml
      live acceptance on a booth: prompts, deadlines, recorded traces, commissioning report
  hwtest bench [-hours N]
      generate an N-hour trace and time its replay through the real driver
  hwtest watch -box URL [-device ID] [-json]
      a running box's readings as they arrive: raw bytes beside the decoded reading
  hwtest drivers
      list the registered driver families
  hwtest COMMAND -h (or hwtest help COMMAND) explains one command; hwtest -version prints the version
`)
}

type optionFlags []string

func (o *optionFlags) String() string     { return strings.Join(*o, ",") }
func (o *optionFlags) Set(s string) error { *o = append(*o, s); return nil }

func findDriver(name string) (device.Driver, error) {
	var names []string
	for _, d := range all.Drivers() {
		if d.Accepts(name) {
			return d, nil
		}
		names = append(names, d.Name)
	}
	sort.Strings(names)
	return device.Driver{}, fmt.Errorf("unknown driver %q (known: %s)", name, strings.Join(names, ", "))
}

func decode(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("decode", stdout, stderr)
	name := fs.String("driver", "", "driver name (hwtest drivers lists them)")
	nowFlag := fs.String("now", "", "box clock for date rules (RFC 3339); default: now")
	var opts optionFlags
	fs.Var(&opts, "option", "driver option key=value (repeatable; value is YAML)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *name == "" {
		return fs.usagef("give -driver (hwtest drivers lists them)")
	}
	drv, err := findDriver(*name)
	if err != nil {
		return err
	}
	now := time.Now
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339, *nowFlag)
		if err != nil {
			return fmt.Errorf("-now: %w", err)
		}
		now = func() time.Time { return t }
	}
	node, err := optionsNode(opts)
	if err != nil {
		return err
	}
	in := &countingReader{r: stdin}
	cfg := drivertest.NewConfig(device.Options{File: "-option", Node: node}, drivertest.ID("stdin"), drivertest.Clock(now),
		drivertest.Transport(transport.Config{Type: "serial", Path: "-"}), // standard input stands in for the port
		drivertest.Stream(func(context.Context) (transport.Port, error) { return transport.StreamPort{R: in}, nil }))
	dev, err := drv.Build(cfg)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	col := drivertest.NewOutput()
	readings := 0
	col.OnEmit = func(r reading.Reading) {
		r.Crossing, r.Box, r.Device, r.Driver = "bench", "hwtest", "stdin", drv.Name
		enc.Encode(r)
		readings++
	}
	err = dev.Run(ctx, col)
	if err != nil && !strings.Contains(err.Error(), "EOF") {
		return err
	}
	discarded := countsText(col.Counts())
	if readings == 0 {
		msg := fmt.Sprintf("no reading decoded from %d bytes of input with driver %s", in.n, drv.Name)
		if discarded != "" {
			msg += " (discarded: " + discarded + ")"
		}
		return &exitError{code: 1, msg: msg + "; is it the right -driver and framing option, and device output at all?"}
	}
	if discarded != "" {
		fmt.Fprintf(stderr, "hwtest: %d reading(s); discarded: %s\n", readings, discarded)
	}
	return nil
}

// countsText prints discard counters as "noise=12, bad_crc=1", sorted.
func countsText(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func optionsNode(opts []string) (*yaml.Node, error) {
	if len(opts) == 0 {
		return nil, nil
	}
	var src strings.Builder
	for _, o := range opts {
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			return nil, fmt.Errorf("-option %q: want key=value", o)
		}
		fmt.Fprintf(&src, "%s: %s\n", k, v)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src.String()), &doc); err != nil {
		return nil, fmt.Errorf("-option: %w", err)
	}
	return doc.Content[0], nil
}

func replayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("replay", stdout, stderr)
	loop := fs.Bool("loop", false, "replay again and again")
	speed := fs.Float64("speed", 1, "time scale: 1 real time, 10 ten times faster, 0 as fast as ordering allows")
	link := fs.String("link", "", "create a pseudo-terminal and a symlink to it at this path")
	port := fs.String("port", "", "write into this existing serial port instead")
	expect := fs.Duration("expect-timeout", 0, "fail when an expected host request does not come within this (0: wait)")
	save := fs.String("save", "", "also write the trace, faults applied, to this file")
	quiet := fs.Bool("q", false, "no progress lines")
	var fl faultFlags
	fs.Var(&fl, "fault", `inject a fault (repeatable): "KIND key=value..." (docs/hwtest.md)`)
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || (*link == "") == (*port == "") {
		return fs.usagef("give one TRACE.jsonl and exactly one of -link or -port")
	}
	tr, err := trace.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	if tr, err = wirefault.Apply(tr, fl); err != nil {
		return err
	}
	if *save != "" {
		if err := saveTrace(*save, tr); err != nil {
			return err
		}
	}
	msgs := &lockedWriter{w: stderr}
	o := replay.Options{Speed: *speed, Loop: *loop, ExpectTimeout: *expect, Unexpected: func(want, got []byte) {
		fmt.Fprintf(msgs, "hwtest: unexpected host bytes % x while waiting for % x\n", got, want)
	}}
	where := *port
	if !*quiet {
		defer watchReplay(&o, tr, &where, msgs)()
	}
	if *port != "" {
		p, err := transport.OpenSerial(transport.Config{Type: "serial", Path: *port})
		if err != nil {
			return err
		}
		defer p.Close()
		fmt.Fprintf(msgs, "hwtest: replaying %s (%s, %d events) into %s\n", fs.Arg(0), tr.Header.Driver, len(tr.Events), *port)
		return ignoreCancel(replay.Serial(ctx, tr, p, o))
	}
	p, err := replay.OpenPTY(*link)
	if err != nil {
		return err
	}
	defer p.Close()
	o.Plug = p
	where = *link
	fmt.Fprintf(msgs, "hwtest: replaying %s (%s, %d events) on %s (linked at %s)\n", fs.Arg(0), tr.Header.Driver, len(tr.Events), p.Path, *link)
	return ignoreCancel(replay.Serial(ctx, tr, p.Device, o))
}

// watchReplay prints progress at most every two seconds and, when the
// replay has waited two seconds for a poll, a hint saying what it waits
// for. The returned func prints the summary.
func watchReplay(o *replay.Options, tr *trace.Trace, where *string, w io.Writer) func() {
	const every = 2 * time.Second
	start, last := time.Now(), time.Now()
	var mu sync.Mutex
	var hint *time.Timer
	played, loops := 0, 0
	o.OnWait = func(i int, e trace.Event) {
		mu.Lock()
		defer mu.Unlock()
		want := e.Host
		hint = time.AfterFunc(every, func() {
			fmt.Fprintf(w, "hwtest: waiting for the host to send % x (event %d of %d): the device answers only after it; is the host software polling %s?\n",
				want, i+1, len(tr.Events), *where)
		})
	}
	o.OnEvent = func(i int, e trace.Event) {
		mu.Lock()
		defer mu.Unlock()
		if hint != nil {
			hint.Stop()
			hint = nil
		}
		played++
		if i == len(tr.Events)-1 {
			loops++
		}
		if time.Since(last) >= every {
			last = time.Now()
			fmt.Fprintf(w, "hwtest: event %d of %d (trace time %.1f s)%s\n", i+1, len(tr.Events), e.T.Seconds(), loopText(loops))
		}
	}
	return func() {
		mu.Lock()
		defer mu.Unlock()
		if hint != nil {
			hint.Stop()
		}
		fmt.Fprintf(w, "hwtest: replayed %d events in %.1f s%s\n", played, time.Since(start).Seconds(), loopText(loops))
	}
}

func loopText(loops int) string {
	if loops == 0 {
		return ""
	}
	return fmt.Sprintf(", %d pass(es) of the trace done", loops)
}

// lockedWriter serialises lines written from the replay and its timers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

type faultFlags []wirefault.Fault

func (f *faultFlags) String() string { return fmt.Sprint(*f) }
func (f *faultFlags) Set(s string) error {
	x, err := wirefault.Parse(s)
	if err != nil {
		return err
	}
	*f = append(*f, x)
	return nil
}

func saveTrace(path string, tr *trace.Trace) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w, err := trace.NewWriter(f, tr.Header)
	if err != nil {
		f.Close()
		return err
	}
	for _, e := range tr.Events {
		if err := w.Write(e); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

func ignoreCancel(err error) error {
	if err == context.Canceled || err == context.DeadlineExceeded {
		return nil
	}
	return err
}
