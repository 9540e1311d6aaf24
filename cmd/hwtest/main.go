// Command hwtest is the technician's bench tool: decode what a device says,
// replay recorded traces into real driver code, check golden readings.
//
//	hwtest decode -driver mrz [-option key=value]... [-now 2026-11-22T10:00:00Z] < bytes
//	hwtest replay [-loop] [-speed N] (-link PATH | -port PATH) TRACE.jsonl
//	hwtest drivers
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/drivers/all"
	"github.com/kordon/kordon/hwtest/harness"
	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/transport"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "decode":
		err = decode(ctx, os.Args[2:])
	case "replay":
		err = replayCmd(ctx, os.Args[2:])
	case "drivers":
		for _, d := range all.Drivers {
			fmt.Printf("%-12s %-12s %s\n", d.Name, d.Kind, d.Doc)
		}
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hwtest:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  hwtest decode -driver NAME [-option key=value]... [-now RFC3339] < raw-bytes
      run a driver's parser on raw device bytes; print normalised readings as JSON lines
      (personal data is shown: this is a technician's tool on their own data)
  hwtest replay [-loop] [-speed N] (-link PATH | -port PATH) TRACE.jsonl
      play a recorded trace's device bytes into a new pseudo-terminal (-link: symlink to it)
      or into an existing serial port (-port: e.g. a QEMU chardev pty)
  hwtest drivers
      list the registered driver families
`)
	os.Exit(2)
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

func decode(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("decode", flag.ExitOnError)
	name := fs.String("driver", "", "driver name (hwtest drivers lists them)")
	nowFlag := fs.String("now", "", "box clock for date rules (RFC 3339); default: now")
	var opts optionFlags
	fs.Var(&opts, "option", "driver option key=value (repeatable; value is YAML)")
	fs.Parse(args)
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
		Port:    func() (transport.Port, error) { return transport.StreamPort{R: os.Stdin}, nil },
	}
	dev, err := drv.New(cfg)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	col := harness.NewCollector()
	col.OnEmit = func(r reading.Reading) {
		r.Crossing, r.Box, r.Device, r.Driver = "bench", "hwtest", "stdin", drv.Name
		enc.Encode(r)
	}
	err = dev.Run(ctx, col)
	counts := col.Counts()
	if len(counts) > 0 {
		fmt.Fprintf(os.Stderr, "hwtest: discarded: %v\n", counts)
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

func replayCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("replay", flag.ExitOnError)
	loop := fs.Bool("loop", false, "replay again and again")
	speed := fs.Float64("speed", 1, "time scale: 1 real time, 10 ten times faster, 0 as fast as possible")
	link := fs.String("link", "", "create a pseudo-terminal and a symlink to it at this path")
	port := fs.String("port", "", "write into this existing serial port instead")
	fs.Parse(args)
	if fs.NArg() != 1 || (*link == "") == (*port == "") {
		usage()
	}
	tr, err := trace.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	o := replay.Options{Speed: *speed, Loop: *loop, Unexpected: func(want, got []byte) {
		fmt.Fprintf(os.Stderr, "hwtest: unexpected host bytes % x while waiting for % x\n", got, want)
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
	fmt.Fprintf(os.Stderr, "hwtest: replaying %s (%s) on %s\n", fs.Arg(0), tr.Header.Driver, p.Path)
	return ignoreCancel(replay.Serial(ctx, tr, p.Device, o))
}

func ignoreCancel(err error) error {
	if err == context.Canceled {
		return nil
	}
	return err
}
