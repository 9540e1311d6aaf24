package thermometer_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
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
	var pyErr bytes.Buffer
	py.Stderr = io.MultiWriter(os.Stderr, &pyErr)
	if err := py.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { py.Process.Kill(); py.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "serving" {
		py.Wait() // its stderr is complete once it has exited
		t.Fatalf("pymodbus slave did not start (%q, %v): %s", line, err, pythonCause(pyErr.String()))
	}
	return host
}

// debianModule names the Debian package of each Python module the slave
// needs: pymodbus's serial transport comes from two packages that are
// only Recommends of python3-pymodbus.
var debianModule = map[string]string{
	"pymodbus": "python3-pymodbus", "serial": "python3-serial", "serial_asyncio": "python3-serial-asyncio",
}

// pythonCause says why the slave did not start, from its stderr: the
// missing module and the package that has it, when that is the cause.
func pythonCause(stderr string) string {
	const marker = "No module named '"
	if i := strings.LastIndex(stderr, marker); i >= 0 {
		mod, _, _ := strings.Cut(stderr[i+len(marker):], "'")
		top, _, _ := strings.Cut(mod, ".")
		if pkg, ok := debianModule[top]; ok {
			return fmt.Sprintf("python3 cannot import %q: install the Debian package %s (scripts/deps.sh lists it)", mod, pkg)
		}
		return fmt.Sprintf("python3 cannot import %q", mod)
	}
	if s := strings.TrimSpace(stderr); s != "" {
		lines := strings.Split(s, "\n")
		return "it said: " + lines[len(lines)-1]
	}
	return "it exited without a word (is /usr/bin/python3 Debian's?)"
}

// TestPythonCauseNamesThePackage: a slave that cannot import serial is
// reported as a missing python3-serial, not as a missing pymodbus.
func TestPythonCauseNamesThePackage(t *testing.T) {
	for stderr, want := range map[string]string{
		"Traceback (most recent call last):\n  ...\nModuleNotFoundError: No module named 'serial'\n": "python3-serial ",
		"ModuleNotFoundError: No module named 'serial_asyncio'":                                      "python3-serial-asyncio",
		"ModuleNotFoundError: No module named 'pymodbus.server'":                                     "python3-pymodbus",
		"OSError: [Errno 2] could not open port":                                                     "could not open port",
		"":                                                                                           "without a word",
	} {
		if got := pythonCause(stderr); !strings.Contains(got+" ", want) {
			t.Errorf("pythonCause(%q) = %q, want it to name %q", stderr, got, want)
		}
	}
}
