package thermometer

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/hwtest/harness"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/transport"
)

// startPymodbusSlave links two ptys with socat and serves pymodbus RTU
// slaves (testdata/interop/slave.py) on one end; it returns the other end
// for the driver. Needs Debian's socat and python3-pymodbus.
func startPymodbusSlave(t *testing.T) string {
	t.Helper()
	for _, f := range []string{"/usr/bin/socat", "/usr/bin/python3"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("interop needs %s (apt packages socat, python3-pymodbus)", f)
		}
	}
	dir := t.TempDir()
	host, slavePath := filepath.Join(dir, "ttyHost"), filepath.Join(dir, "ttySlave")
	socat := exec.Command("/usr/bin/socat", "-d", "-d", "pty,raw,echo=0,link="+host, "pty,raw,echo=0,link="+slavePath)
	stderr, err := socat.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := socat.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { socat.Process.Kill(); socat.Wait() })
	// socat says when both ptys exist and it is relaying.
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "starting data transfer loop") {
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	py := exec.Command("/usr/bin/python3", "testdata/interop/slave.py", slavePath)
	out, err := py.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	py.Stderr = os.Stderr
	if err := py.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { py.Process.Kill(); py.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "serving" {
		t.Fatalf("pymodbus slave did not start (%q, %v): is python3-pymodbus installed?", line, err)
	}
	return host
}

// interopOptions is the bus the pymodbus slave serves.
const interopOptions = `
poll: 50ms
timeout: 300ms
retries: 2
slaves:
  - {address: 1, name: lane-1, profile: calex-pyrousb}
  - {address: 2, name: outdoor-air, profile: xy-md02, screening: {fever: false}}
screening: {stuck_window: 0s, heartbeat: 1s}
`

// TestInteropPymodbusSlave runs the real driver against an independent RTU
// slave implementation (pymodbus) over a socat pty pair: both slaves on one
// bus answer and their values arrive decoded.
func TestInteropPymodbusSlave(t *testing.T) {
	path := startPymodbusSlave(t)
	cfg := configWith(t, interopOptions)
	cfg.Transport = transport.Config{Type: "serial", Path: path, Baud: 9600}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	col := harness.NewCollector()
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx, col) }()
	got := map[string]Temperature{}
	for len(got) < 2 {
		select {
		case <-col.Changed():
		case err := <-runErr:
			t.Fatalf("driver stopped: %v", err)
		case <-ctx.Done():
			t.Fatalf("no good reading from both slaves; readings %+v counts %v", col.Readings(), col.Counts())
		}
		for _, r := range col.Readings() {
			// The first polls may go out before pymodbus has opened its
			// end; those are faults, and the driver carries on.
			if p := r.Payload.(Temperature); r.Quality.Status == reading.OK {
				got[p.Sensor] = p
			}
		}
	}
	cancel()
	<-runErr
	lane := got["lane-1"]
	if *lane.Celsius != 36.5 || *lane.Housing != 24.8 || *lane.Emissivity != 0.95 || lane.Model != "calex-pyrousb" || lane.Fever {
		t.Errorf("lane-1: %+v", lane)
	}
	air := got["outdoor-air"]
	if *air.Celsius != -7.5 || *air.Humidity != 41.2 || air.Threshold != nil {
		t.Errorf("outdoor-air: %+v", air)
	}
}
