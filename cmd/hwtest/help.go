package main

import (
	"flag"
	"io"

	"github.com/kordon/kordon/internal/cli"
)

// commandHelp is what `hwtest COMMAND -h` prints above the flags.
var commandHelp = map[string]string{
	"record": `usage: hwtest record -o TRACE.jsonl [-driver NAME] [-option k=v]... [-source TEXT] [-duration D] [-v] WHAT

Records what a device sends into a trace file, to replay later into the real
driver code. WHAT is one of:
  -port PATH                  passive: what the device on PATH sends (never writes to it)
  -device PATH -host PATH     man in the middle between the host software's port and the device
  -device PATH -link PATH     ... the host software opens the pseudo-terminal linked at PATH
  -gpio LINE[,LINE]           GPIO input edges (periph.io line names)
  -usb VID:PID                USB HID input reports (-usb-poll HEX -usb-every D for polled devices)
Lines typed on standard input become notes in the trace; Ctrl-C ends the
recording. Give -driver so the trace replays, and -source to say what was
recorded (model, firmware, site; never personal data).

example:
  hwtest record -port /dev/ttyUSB0 -baud 9600 -driver mrz -source "Regula 70x4M fw 6.2" -o reader.jsonl`,

	"decode": `usage: hwtest decode -driver NAME [-option key=value]... [-now RFC3339] < raw-bytes

Runs a driver's parser on raw device bytes from standard input and prints each
normalised reading as a JSON line. Input the driver could not use is counted
by kind on standard error; when no reading at all comes out, hwtest exits 1
and says so (wrong -driver, wrong framing option, or not device output).
Personal data is shown: this is a technician's tool on their own data.

example:
  printf 'P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\r\nL898902C36UTO7408122F1204159ZE184226B<<<<<10\r\n' | hwtest decode -driver mrz`,

	"replay": `usage: hwtest replay [-loop] [-speed N] [-fault SPEC]... [-save FILE] (-link PATH | -port PATH) TRACE.jsonl

Plays a recorded trace's device bytes into a new pseudo-terminal (-link: a
symlink to it at PATH, for edged or the host software to open) or into an
existing serial port (-port, e.g. a QEMU chardev pty). Poll/response devices
answer only after the host sends the poll the trace recorded: until then the
replay waits, and says so. Progress is printed on standard error.
-speed 0 plays as fast as ordering allows. -fault injects faults, e.g.
"unplug byte=30 for=1s", "corrupt rate=0.001 seed=1" (docs/hwtest.md).

example:
  hwtest replay -link /tmp/reader drivers/passport/testdata/traces/line-td3-specimen.jsonl`,

	"run": `usage: hwtest run [-junit FILE] [-speed N] [-v] [-q] RIG.yaml...

Runs rigs through the real edged pipeline (and a hub when alerts are expected):
each rig replays its traces into the drivers and compares the readings (and
alerts) with what it expects. Exits 1 when any reading or alert differs,
printing the difference.`,

	"accept": `usage: hwtest accept [-config edged.yaml] [-out DIR] [-format md|html] [-v] PLAN.yaml

Live acceptance on a booth: walks the technician through the plan's steps
(present a passport, warm the thermometer, ...) with deadlines, records what
each device sent, and writes a commissioning report with the traces into DIR.`,

	"watch": `usage: hwtest watch -box URL [-device ID] [-json]

Shows each reading of a running box as it arrives: the raw bytes beside the
decoded reading. Personal data is shown, as on the booth screen. Ctrl-C ends it.`,

	"bench": `usage: hwtest bench [-hours N] [-every D] [-driver mrz]

Generates an N-hour trace and times its replay through the real driver, to
see how a driver keeps up with a long shift.`,
}

// flags is a command's flag set with the streams its help and mistakes go
// to: -h prints the help on stdout and exits 0, a wrong flag exits 2.
type flags struct {
	*flag.FlagSet
	stdout, stderr io.Writer
}

func newFlags(name string, stdout, stderr io.Writer) *flags {
	return &flags{FlagSet: cli.New("hwtest "+name, commandHelp[name]), stdout: stdout, stderr: stderr}
}

func (f *flags) parse(args []string) error {
	if code, stop := cli.Parse(f.FlagSet, args, f.stdout, f.stderr); stop {
		return &exitError{code: code}
	}
	return nil
}

// usagef reports a mistake in the arguments with the command's usage (exit 2).
func (f *flags) usagef(format string, args ...any) error {
	return &exitError{code: cli.Usagef(f.FlagSet, f.stderr, format, args...)}
}
