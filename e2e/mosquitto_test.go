package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/reading"
)

// startMosquitto runs Debian's mosquitto on a free loopback port with
// password authentication, and returns its URL once it accepts.
func startMosquitto(t *testing.T, users map[string]string) string {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatal("mosquitto not installed: run `make deps` (apt-get install mosquitto mosquitto-clients)")
	}
	dir := t.TempDir()
	pwfile := filepath.Join(dir, "passwd")
	for u, p := range users {
		args := []string{"-b", pwfile, u, p}
		if _, err := os.Stat(pwfile); err != nil {
			args = append([]string{"-c"}, args...)
		}
		if out, err := exec.Command("mosquitto_passwd", args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v: %s", err, out)
		}
	}
	os.Chmod(pwfile, 0o600)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := filepath.Join(dir, "mosquitto.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("listener %d 127.0.0.1\nuser %s\nallow_anonymous false\npassword_file %s\npersistence false\nlog_dest stderr\nlog_type all\n", port, currentUser(), pwfile)), 0o600)
	cmd := exec.Command(bin, "-c", conf)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan struct{})
	exited := make(chan []string)
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		var lines []string
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if !signalled && strings.Contains(sc.Text(), "running") {
				close(ready)
				signalled = true
			}
		}
		exited <- lines
	}()
	select {
	case <-ready:
	case lines := <-exited:
		t.Fatalf("mosquitto exited:\n%s", strings.Join(lines, "\n"))
	case <-time.After(15 * time.Second):
		t.Fatal("mosquitto did not start")
	}
	return fmt.Sprintf("tcp://127.0.0.1:%d", port)
}

// currentUser keeps mosquitto from dropping root privileges to a user that
// cannot read the test's temporary files.
func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "root"
}

// buildEdged compiles the real edged binary once per test run.
func buildEdged(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "edged")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/edged")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build edged: %v\n%s", err, out)
	}
	return bin
}

// TestEdgedWithMosquitto: edged is an ordinary MQTT client and works with an
// independent broker. Readings arrive and validate, the retained state says
// online, and after kill -9 the broker publishes the Last Will (offline).
func TestEdgedWithMosquitto(t *testing.T) {
	broker := startMosquitto(t, map[string]string{"booth-09": "pw9", "watch": "watchpw"})
	rec := subscribe(t, broker, "watch", "watchpw", contract.Prefix+"/"+crossing+"/#")

	devPath, play := replayDevice(t, "../drivers/passport/testdata/traces/line-td3-specimen.jsonl", false)
	cfg := filepath.Join(t.TempDir(), "edged.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
crossing: %s
box: booth-09
state_dir: %s
hub: {address: %q, username: booth-09, password: pw9}
devices:
  - id: reader1
    driver: mrz
    transport: {type: serial, path: %s}
`, crossing, t.TempDir(), broker, devPath)), 0o600)
	cmd := exec.Command(buildEdged(t), "-config", cfg)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	stateTopic := contract.BoxState(crossing, "booth-09")
	rec.Wait(t, stateTopic, 20*time.Second, func(m [][]byte) bool {
		return len(m) > 0 && decode[contract.State](t, m[len(m)-1]).State == "online"
	})
	rec.DeviceUp(t, "booth-09", "reader1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	play(ctx)
	msgs := rec.WaitCount(t, contract.Readings(crossing, "booth-09", "reader1"), 2, 20*time.Second)
	for i, m := range msgs {
		r := decode[reading.Reading](t, m)
		if r.Seq != uint64(i+1) || r.Kind() != "document" || r.Quality.Status != reading.OK {
			t.Errorf("reading %d: seq %d kind %s quality %s", i, r.Seq, r.Kind(), r.Quality.Status)
		}
	}
	st := decode[contract.State](t, rec.All()[stateTopic][0])
	if len(st.Devices) != 1 || st.Devices[0].Driver != "mrz" || st.Devices[0].Kind != "document" {
		t.Errorf("inventory = %+v", st.Devices)
	}

	// kill -9: no DISCONNECT is sent, so the broker publishes the Will.
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	rec.Wait(t, stateTopic, 60*time.Second, func(m [][]byte) bool {
		return len(m) > 0 && decode[contract.State](t, m[len(m)-1]).State == "offline"
	})
	if n := validateAll(t, rec); n < 5 {
		t.Errorf("only %d messages validated", n)
	}
}
