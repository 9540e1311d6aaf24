package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/passport"
	"github.com/kordon/kordon/hwtest/harness"
	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/transport"
)

const (
	specimenTrace  = "../../drivers/passport/testdata/traces/line-td3-specimen.jsonl"
	specimenGolden = "../../drivers/passport/testdata/golden/line-td3-specimen.jsonl"
)

// hwtestProc runs the command in process with a cancellable context and
// its standard error readable line by line.
type hwtestProc struct {
	cancel context.CancelFunc
	stderr *bufio.Scanner
	code   chan int
	stdin  *io.PipeWriter
	lines  []string
}

func start(t *testing.T, args ...string) *hwtestProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	er, ew := io.Pipe()
	ir, iw := io.Pipe()
	p := &hwtestProc{cancel: cancel, stderr: bufio.NewScanner(er), code: make(chan int, 1), stdin: iw}
	go func() {
		code := run(ctx, args, ir, io.Discard, ew)
		ew.Close()
		p.code <- code
	}()
	t.Cleanup(func() { cancel(); iw.Close() })
	return p
}

// waitFor reads standard error until a line matches.
func (p *hwtestProc) waitFor(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	for p.stderr.Scan() {
		line := p.stderr.Text()
		p.lines = append(p.lines, line)
		if m := re.FindStringSubmatch(line); m != nil {
			return m
		}
	}
	t.Fatalf("hwtest ended before %q; stderr:\n%s", re, strings.Join(p.lines, "\n"))
	return nil
}

func (p *hwtestProc) stop(t *testing.T) {
	t.Helper()
	p.cancel()
	go io.Copy(io.Discard, pipeReader(p.stderr))
	if code := <-p.code; code != 0 {
		t.Fatalf("hwtest exited %d; stderr:\n%s", code, strings.Join(p.lines, "\n"))
	}
}

// pipeReader drains whatever is left of stderr so the command never blocks.
func pipeReader(sc *bufio.Scanner) io.Reader {
	r, w := io.Pipe()
	go func() {
		for sc.Scan() {
		}
		w.Close()
	}()
	return r
}

var devBytes = regexp.MustCompile(`dev (\d+) bytes`)

// A pty-emulated passport reader is recorded with `hwtest record`, and the
// recorded trace replays into the real driver to the same readings as the
// trace that drove the emulation.
func TestRecordedTraceReplaysToSameReadings(t *testing.T) {
	dir := t.TempDir()
	dev, err := replay.OpenPTY(filepath.Join(dir, "ttyUSB0"))
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	out := filepath.Join(dir, "recorded.jsonl")
	p := start(t, "record", "-port", dev.Path, "-driver", "mrz", "-option", "framing=line", "-id", "reader1",
		"-source", "pty-emulated reader", "-o", out, "-v")
	p.waitFor(t, regexp.MustCompile(`ttyUSB0 open`))

	src, err := trace.ReadFile(specimenTrace)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, e := range src.Events {
		total += len(e.Dev)
	}
	// Real timing at 10×: the recording keeps the gaps between documents.
	go replay.Serial(context.Background(), src, dev.Device, replay.Options{Speed: 10})
	p.stdin.Write([]byte("officer presents the specimen\n"))
	for got := 0; got < total; {
		m := p.waitFor(t, devBytes)
		n, _ := strconv.Atoi(m[1])
		got += n
	}
	p.stop(t)

	rec, err := trace.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Header.Driver != "mrz" || rec.Header.Device != "reader1" || rec.Header.Options["framing"] != "line" {
		t.Errorf("header %+v", rec.Header)
	}
	if d := rec.Duration(); d < 250*time.Millisecond {
		t.Errorf("recorded trace lasts %s; the documents were 300 ms apart at 10×", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	col, err := harness.ReplayThroughPTY(ctx, passport.Driver(), rec, 0)
	if err != nil {
		t.Fatal(err)
	}
	diff, err := harness.CompareGolden(col.Readings(), specimenGolden)
	if err != nil {
		t.Fatal(err)
	}
	if diff != "" {
		t.Errorf("recorded trace replays differently:\n%s", diff)
	}
}

// In the middle between host software and a device, the recorder passes
// every byte both ways unchanged and records both directions in order.
func TestRecordManInTheMiddle(t *testing.T) {
	dir := t.TempDir()
	dev, err := replay.OpenPTY(filepath.Join(dir, "device"))
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	hostLink := filepath.Join(dir, "host")
	out := filepath.Join(dir, "mitm.jsonl")
	p := start(t, "record", "-device", dev.Path, "-link", hostLink, "-o", out, "-v")
	p.waitFor(t, regexp.MustCompile(`device open`))
	host, err := transport.OpenSerial(transport.Config{Type: "serial", Path: hostLink})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	host.SetReadTimeout(5 * time.Second)

	poll := []byte{0x01, 0x03, 0x00, 0x12, 0x00, 0x01, 0x24, 0x0f}
	answer := []byte{0x01, 0x03, 0x02, 0x01, 0x6e, 0x39, 0xd8}
	host.Write(poll)
	got := make([]byte, len(poll))
	if _, err := io.ReadFull(dev.Device, got); err != nil || !bytes.Equal(got, poll) {
		t.Fatalf("device received % x (%v), host sent % x", got, err, poll)
	}
	dev.Device.Write(answer)
	got = make([]byte, len(answer))
	if _, err := io.ReadFull(host, got); err != nil || !bytes.Equal(got, answer) {
		t.Fatalf("host received % x (%v), device sent % x", got, err, answer)
	}
	p.waitFor(t, devBytes)
	p.stop(t)

	rec, err := trace.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var hostSeen, devSeen []byte
	for _, e := range rec.Events {
		hostSeen = append(hostSeen, e.Host...)
		devSeen = append(devSeen, e.Dev...)
		if e.Dev != nil && len(hostSeen) < len(poll) {
			t.Errorf("answer recorded before the poll")
		}
	}
	if !bytes.Equal(hostSeen, poll) || !bytes.Equal(devSeen, answer) {
		t.Errorf("trace has host % x dev % x", hostSeen, devSeen)
	}
}

// `hwtest run` exits 0 on a green rig and 1 on a red one, with the diff in
// the report and the failure in the JUnit file.
func TestRunExitCodes(t *testing.T) {
	dir := t.TempDir()
	junit := filepath.Join(dir, "junit.xml")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"run", "-q", "-junit", junit, "../../rigs/two-readers.yaml"}, nil, &out, &errb); code != 0 {
		t.Fatalf("green rig exited %d:\n%s\n%s", code, out.String(), errb.String())
	}
	golden, _ := os.ReadFile(specimenGolden)
	wrong := bytes.Replace(golden, []byte(`"sex":"F"`), []byte(`"sex":"M"`), 1)
	os.WriteFile(filepath.Join(dir, "wrong.jsonl"), wrong, 0o644)
	abs, _ := filepath.Abs(specimenTrace)
	os.WriteFile(filepath.Join(dir, "rig.yaml"), []byte("rig: red\ndevices:\n  - id: reader1\n    trace: "+abs+"\n    golden: wrong.jsonl\n"), 0o644)
	out.Reset()
	code := run(context.Background(), []string{"run", "-q", "-junit", junit, filepath.Join(dir, "rig.yaml")}, nil, &out, &errb)
	if code != 1 {
		t.Fatalf("red rig exited %d, want 1:\n%s", code, out.String())
	}
	want := `reading 1 (seq 1): /payload/sex: want "M", got "F"`
	if !strings.Contains(out.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, out.String())
	}
	x, _ := os.ReadFile(junit)
	if !strings.Contains(string(x), `failures="1"`) || !strings.Contains(string(x), "/payload/sex") {
		t.Errorf("JUnit lacks the failure:\n%s", x)
	}
}

func TestDecodeStillWorks(t *testing.T) {
	var out, errb bytes.Buffer
	in := strings.NewReader("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\r\nL898902C36UTO7408122F1204159ZE184226B<<<<<10\r\n")
	if code := run(context.Background(), []string{"decode", "-driver", "mrz", "-now", "2026-11-01T09:00:00Z"}, in, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), `"valid":true`) {
		t.Errorf("decode output: %s", out.String())
	}
}
