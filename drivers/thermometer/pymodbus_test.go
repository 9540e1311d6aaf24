package thermometer_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
