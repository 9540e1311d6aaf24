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
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/drivers/all"
	"github.com/kordon/kordon/hwtest/faults"
	"github.com/kordon/kordon/hwtest/harness"
	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/hwtest/trace"
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
	switch args[0] {
	case "record":
		err = recordCmd(ctx, args[1:], stdin, stdout, stderr)
	case "decode":
		err = decode(ctx, args[1:], stdin, stdout, stderr)
	case "replay":
		err = replayCmd(ctx, args[1:], stderr)
	case "run":
		err = runCmd(ctx, args[1:], stdout, stderr)
	case "accept":
		err = acceptCmd(ctx, args[1:], stdin, stdout, stderr)
	case "bench":
		err = benchCmd(ctx, args[1:], stdout)
	case "watch":
		err = watchCmd(ctx, args[1:], stdout, stderr)
	case "drivers":
		for _, d := range all.Drivers {
			fmt.Fprintf(stdout, "%-12s %-12s %s\n", d.Name, d.Kind, d.Doc)
		}
	default:
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
	if err == errUsage {
		return 2
	}
	fmt.Fprintln(stderr, "hwtest:", err)
	return 1
}

var errUsage = fmt.Errorf("usage")

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
`)
}

type optionFlags []string

func (o *optionFlags) String() string     { return strings.Join(*o, ",") }
func (o *optionFlags) Set(s string) error { *o = append(*o, s); return nil }

func findDriver(name string) (device.Driver, error) {
	var names []string
	for _, d := range all.Drivers {
		if d.Name == name {
			return d, nil
		}
		names = append(names, d.Name)
	}
	sort.Strings(names)
	return device.Driver{}, fmt.Errorf("unknown driver %q (known: %s)", name, strings.Join(names, ", "))
}

func decode(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("decode", stderr)
	name := fs.String("driver", "", "driver name (hwtest drivers lists them)")
	nowFlag := fs.String("now", "", "box clock for date rules (RFC 3339); default: now")
	var opts optionFlags
	fs.Var(&opts, "option", "driver option key=value (repeatable; value is YAML)")
	if err := fs.Parse(args); err != nil {
		return errUsage
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
	cfg := device.Config{
		ID:      "stdin",
		Options: device.Options{File: "-option", Node: node},
		Now:     now,
		Port:    func() (transport.Port, error) { return transport.StreamPort{R: stdin}, nil },
	}
	dev, err := drv.New(cfg)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	col := harness.NewCollector()
	col.OnEmit = func(r reading.Reading) {
		r.Crossing, r.Box, r.Device, r.Driver = "bench", "hwtest", "stdin", drv.Name
		enc.Encode(r)
	}
	err = dev.Run(ctx, col)
	counts := col.Counts()
	if len(counts) > 0 {
		fmt.Fprintf(stderr, "hwtest: discarded: %v\n", counts)
	}
	if err == nil || strings.Contains(err.Error(), "EOF") {
		return nil
	}
	return err
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

func replayCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("replay", stderr)
	loop := fs.Bool("loop", false, "replay again and again")
	speed := fs.Float64("speed", 1, "time scale: 1 real time, 10 ten times faster, 0 as fast as ordering allows")
	link := fs.String("link", "", "create a pseudo-terminal and a symlink to it at this path")
	port := fs.String("port", "", "write into this existing serial port instead")
	expect := fs.Duration("expect-timeout", 0, "fail when an expected host request does not come within this (0: wait)")
	save := fs.String("save", "", "also write the trace, faults applied, to this file")
	var fl faultFlags
	fs.Var(&fl, "fault", `inject a fault (repeatable): "KIND key=value..." (docs/hwtest.md)`)
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 1 || (*link == "") == (*port == "") {
		usage(stderr)
		return errUsage
	}
	tr, err := trace.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	if tr, err = faults.Apply(tr, fl); err != nil {
		return err
	}
	if *save != "" {
		if err := saveTrace(*save, tr); err != nil {
			return err
		}
	}
	o := replay.Options{Speed: *speed, Loop: *loop, ExpectTimeout: *expect, Unexpected: func(want, got []byte) {
		fmt.Fprintf(stderr, "hwtest: unexpected host bytes % x while waiting for % x\n", got, want)
	}}
	if *port != "" {
		p, err := transport.OpenSerial(transport.Config{Type: "serial", Path: *port})
		if err != nil {
			return err
		}
		defer p.Close()
		return ignoreCancel(replay.Serial(ctx, tr, p, o))
	}
	p, err := replay.OpenPTY(*link)
	if err != nil {
		return err
	}
	defer p.Close()
	o.Plug = p
	fmt.Fprintf(stderr, "hwtest: replaying %s (%s) on %s\n", fs.Arg(0), tr.Header.Driver, p.Path)
	return ignoreCancel(replay.Serial(ctx, tr, p.Device, o))
}

type faultFlags []faults.Fault

func (f *faultFlags) String() string { return fmt.Sprint(*f) }
func (f *faultFlags) Set(s string) error {
	x, err := faults.Parse(s)
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

// newFlags is a flag set that reports errors instead of exiting, so the
// command can run in process.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func ignoreCancel(err error) error {
	if err == context.Canceled || err == context.DeadlineExceeded {
		return nil
	}
	return err
}
