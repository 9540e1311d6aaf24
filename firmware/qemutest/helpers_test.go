// Package qemutest boots Kordon firmware images under QEMU (arm64, UEFI,
// software emulation) and checks them end to end: a trace replayed into an
// emulated USB serial adapter arrives at a hubd on the host; a QEMU usb-kbd
// is read through gousb; signed updates install, refuse and roll back.
//
// Run by `make firmware-test` (KORDON_QEMU_TEST=1). The guest network is
// QEMU user networking with restrict=on: the guest reaches only the host
// loopback ports a test forwards (guestfwd to 10.0.2.100), nothing outside.
package qemutest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	repo, build, bin string
	buildOnce        sync.Once
	buildErr         error
)

func TestMain(m *testing.M) {
	if os.Getenv("KORDON_QEMU_TEST") == "" {
		fmt.Println("qemutest: skipped (set KORDON_QEMU_TEST=1; make firmware-test does)")
		os.Exit(0)
	}
	wd, _ := os.Getwd()
	repo = filepath.Clean(filepath.Join(wd, "../.."))
	build = filepath.Join(repo, "firmware/build")
	bin = filepath.Join(build, "bin")
	os.Exit(m.Run())
}

func run(t testing.TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// bcryptHash is hubd passwd's hash of secret (given on stdin, never the
// command line).
func bcryptHash(t testing.TB, secret string) string {
	t.Helper()
	pw := exec.Command(bin+"/hubd", "passwd")
	pw.Stdin = strings.NewReader(secret + "\n")
	out, err := pw.Output()
	if err != nil {
		t.Fatalf("hubd passwd: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// hostTools builds the host-side programs the tests drive.
func hostTools(t testing.TB) {
	buildOnce.Do(func() {
		cmd := exec.Command("go", "build", "-o", bin+"/", "./cmd/hubd", "./cmd/hwtest", "./cmd/kordon-install", "./cmd/kordon-update")
		cmd.Dir = repo
		if os.Getenv("FW_SRC") == "head" { // the export build-image.sh made of the last commit
			cmd.Dir = filepath.Join(build, "src")
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building host tools: %v\n%s", err, out)
			return
		}
		cmd = exec.Command("go", "build", "-o", bin+"/fwd", "./fwd")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building fwd: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Hub is a hubd on host loopback.
type Hub struct {
	MQTT, HTTP int
	Password   string
}

func startHub(t testing.TB, box, password string) *Hub {
	hostTools(t)
	h := &Hub{MQTT: freePort(t), HTTP: freePort(t), Password: password}
	hash := bcryptHash(t, password)
	dir := t.TempDir()
	// The API needs a dashboard user: "qemu", with the box's password.
	cfg := fmt.Sprintf("crossing: kz-demo\nmqtt: \"127.0.0.1:%d\"\nhttp: \"127.0.0.1:%d\"\ndata_dir: %s\nboxes: [{box: %s, password_hash: %q}]\nusers: [{user: qemu, role: technician, password_hash: %q}]\n",
		h.MQTT, h.HTTP, filepath.Join(dir, "data"), box, hash, hash)
	os.WriteFile(filepath.Join(dir, "hub.yaml"), []byte(cfg), 0o600)
	logf, _ := os.Create(filepath.Join(dir, "hubd.log"))
	cmd := exec.Command(bin+"/hubd", "-config", filepath.Join(dir, "hub.yaml"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("hubd log:\n%s", tail(string(b), 3000))
		}
	})
	waitFor(t, 20*time.Second, "hubd http", func() bool {
		_, err := httpGetAs(fmt.Sprintf("http://127.0.0.1:%d/api/readings?limit=1", h.HTTP), "qemu", h.Password)
		return err == nil
	})
	return h
}

// Readings returns the hub's stored readings.
func (h *Hub) Readings() ([]map[string]any, error) {
	b, err := httpGetAs(fmt.Sprintf("http://127.0.0.1:%d/api/readings?limit=200", h.HTTP), "qemu", h.Password)
	if err != nil {
		return nil, err
	}
	var rs []map[string]any
	if err := json.Unmarshal(b, &rs); err != nil {
		var wrapped struct{ Readings []map[string]any }
		if err2 := json.Unmarshal(b, &wrapped); err2 != nil {
			return nil, fmt.Errorf("readings: %v: %.200s", err, b)
		}
		rs = wrapped.Readings
	}
	return rs, nil
}

func httpGet(url string) ([]byte, error) { return httpGetAs(url, "", "") }

// httpGetAs GETs with HTTP Basic credentials when user is set.
func httpGetAs(url, user, password string) ([]byte, error) {
	c := http.Client{Timeout: 5 * time.Second}
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return nil, err
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, err
}

func waitFor(t testing.TB, d time.Duration, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if ok() {
			return time.Since(start)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
	return 0
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// VM is one QEMU guest.
type VM struct {
	t       testing.TB
	cmd     *exec.Cmd
	Started time.Time
	Port    map[int]int // guest port -> host port
	Serial  string      // pty path of the emulated USB serial adapter
	mon     string
	log     string
	done    chan struct{}
}

type vmOpts struct {
	usbKbd   bool
	guestfwd map[int]int // port on 10.0.2.100 -> host loopback port
}

func startVM(t testing.TB, disk string, o vmOpts) *VM {
	hostTools(t)
	dir := t.TempDir()
	vm := &VM{t: t, Port: map[int]int{}, mon: filepath.Join(dir, "monitor.sock"), log: filepath.Join(dir, "serial.log"), done: make(chan struct{})}
	netdev := "user,id=n0,restrict=on"
	for _, gp := range []int{80, 8081, 8082} {
		hp := freePort(t)
		vm.Port[gp] = hp
		netdev += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", hp, gp)
	}
	for gp, hp := range o.guestfwd {
		netdev += fmt.Sprintf(",guestfwd=tcp:10.0.2.100:%d-cmd:%s 127.0.0.1:%d", gp, bin+"/fwd", hp)
	}
	args := []string{
		"-machine", "virt,highmem=off", "-cpu", "cortex-a72", "-smp", "2", "-m", "1024",
		"-bios", "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd",
		"-drive", "file=" + disk + ",format=raw,if=none,id=hd0", "-device", "virtio-blk-pci,drive=hd0",
		"-device", "virtio-net-pci,netdev=n0", "-netdev", netdev,
		"-device", "qemu-xhci,id=xhci",
		"-chardev", "pty,id=us0", "-device", "usb-serial,chardev=us0,bus=xhci.0",
		"-display", "none", "-serial", "file:" + vm.log,
		"-monitor", "unix:" + vm.mon + ",server=on,wait=off",
	}
	if o.usbKbd {
		args = append(args, "-device", "usb-kbd,bus=xhci.0")
	}
	vm.cmd = exec.Command("qemu-system-aarch64", args...)
	// QEMU prints the pty name on stdout (no monitor attached yet), errors on stderr
	pr, pw := io.Pipe()
	vm.cmd.Stdout, vm.cmd.Stderr = pw, pw
	stderr := pr
	vm.Started = time.Now()
	if err := vm.cmd.Start(); err != nil {
		t.Fatalf("qemu: %v", err)
	}
	ptyRe := regexp.MustCompile(`char device redirected to (/dev/pts/\d+) \(label us0\)`)
	found := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			if m := ptyRe.FindStringSubmatch(s.Text()); m != nil {
				found <- m[1]
			} else {
				t.Logf("qemu: %s", s.Text())
			}
		}
	}()
	go func() { vm.cmd.Wait(); pw.Close(); close(vm.done) }()
	t.Cleanup(vm.Stop)
	select {
	case vm.Serial = <-found:
	case <-vm.done:
		t.Fatal("qemu exited at start")
	case <-time.After(20 * time.Second):
		t.Fatal("qemu did not report its pty")
	}
	return vm
}

func (vm *VM) Stop() {
	select {
	case <-vm.done:
		return
	default:
	}
	vm.cmd.Process.Kill()
	<-vm.done
	if vm.t.Failed() {
		b, _ := os.ReadFile(vm.log)
		vm.t.Logf("guest serial console (tail):\n%s", tail(string(b), 4000))
	}
}

// URL is a guest service as seen from the host.
func (vm *VM) URL(guestPort int, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", vm.Port[guestPort], path)
}

// Monitor sends one command to the QEMU monitor.
func (vm *VM) Monitor(cmd string) error {
	c, err := net.DialTimeout("unix", vm.mon, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	r.ReadString(')') // banner up to "(qemu"
	if _, err := fmt.Fprintf(c, "%s\n", cmd); err != nil {
		return err
	}
	time.Sleep(50 * time.Millisecond)
	return nil
}

// GuestLog fetches a gokrazy service log through kordon-update's read-only
// debug view (the box is provisioned with --debug).
func (vm *VM) GuestLog(svc string) string {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(vm.URL(8082, "/gokrazy/status?path=/user/"+svc))
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 200000))
	// strip HTML tags: the status page embeds the log in <pre>
	s := regexp.MustCompile(`(?s)<[^>]*>`).ReplaceAllString(string(b), "")
	return tail(s, 4000)
}

const serialReader = `  - id: reader1
    driver: mrz
    transport: {type: serial, path: /dev/ttyUSB0, baud: 9600}
    options: {framing: line}
`

// wedgeReader is QEMU's usb-kbd (0627:0001) as a keyboard-wedge passport
// reader. Keys typed through the QEMU monitor come ~0.1 s apart (a real
// reader types a row in milliseconds), so rows get a longer row_gap.
const wedgeReader = `  - id: kbd-reader
    driver: mrz
    transport: {type: usb, vendor: "0627", product: "0001"}
    options: {framing: wedge, layout: us, interface: 0, row_gap: 15s}
`

// flashBox writes img to a fresh disk file with an identity for booth-01.
func flashBox(t testing.TB, img string, devices string, relPort int, extra ...string) string {
	hostTools(t)
	dir := t.TempDir()
	disk := filepath.Join(dir, "box.img")
	devFile := filepath.Join(dir, "devices.yaml")
	os.WriteFile(devFile, []byte("devices:\n"+devices), 0o600)
	args := []string{"flash", "--crossing", "kz-demo", "--box", "booth-01",
		"--hub", "tcp://10.0.2.100:1883", "--password", "secret", "--devices", devFile, "--debug",
		// edged's /status answers the host (not loopback to the guest) only for a technician.
		"--technician", "qemu:" + bcryptHash(t, "secret")}
	if relPort != 0 {
		args = append(args, "--update-url", "http://10.0.2.100:8090/", "--update-interval", "3s")
	}
	args = append(args, extra...)
	args = append(args, img, disk)
	start := time.Now()
	run(t, "", nil, bin+"/kordon-install", args...)
	t.Logf("kordon-install flash: %v", time.Since(start).Round(100*time.Millisecond))
	return disk
}

// buildImage builds a VM image/root with the given version (and env) into
// firmware/build/test/, reusing gok's build cache.
func buildImage(t testing.TB, name string, env ...string) string {
	out := filepath.Join(build, "test", name)
	os.MkdirAll(filepath.Dir(out), 0o755)
	start := time.Now()
	run(t, repo, env, filepath.Join(repo, "firmware/scripts/build-image.sh"), "vm", out)
	t.Logf("built %s in %v", name, time.Since(start).Round(100*time.Millisecond))
	return out
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
