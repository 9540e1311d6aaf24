// Package demo holds the simulated crossing `make run` starts
// (scripts/run-crossing.sh): the devices and the recorded traces they play.
package demo

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestRunRefusesATakenPort: when a port the crossing needs is taken, make
// run says which, who holds it and how to choose another — before building
// or starting anything — and exits 1, instead of printing "running" over a
// hub that died.
func TestRunRefusesATakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	free := func() string {
		f, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return strconv.Itoa(f.Addr().(*net.TCPAddr).Port)
	}
	cmd := exec.Command("bash", "../scripts/run-crossing.sh", "--smoke")
	cmd.Env = append(os.Environ(), "KORDON_RUN_DIR="+t.TempDir(), "KORDON_MQTT_PORT="+free(),
		"KORDON_HTTP_PORT="+taken, "KORDON_BOOTH1_PORT="+free(), "KORDON_BOOTH2_PORT="+free())
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want 1\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{"FAILED", "port " + taken + " (dashboard) is already in use", "KORDON_HTTP_PORT="} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "building") || strings.Contains(s, "is running") {
		t.Errorf("built or claimed to run despite the taken port:\n%s", s)
	}
}
