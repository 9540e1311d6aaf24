// Package faults runs the real edged and hubd binaries through the faults
// a crossing sees (docs/delivery.md): kill -9 of either under load, a cut
// network, a device unplugged mid-frame. After each, every reading the box
// took must be at the hub exactly once and in per-device order.
package faults

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	_ "modernc.org/sqlite"

	"github.com/kordon/kordon/drivers/passport/mrz"
	"github.com/kordon/kordon/edge/outbox"
	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/internal/freeport"
)

const (
	crossing = "kg-faults"
	boxID    = "booth1"
	password = "faults-pw"
)

var bins struct{ edged, hubd string }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kordon-faults-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.edged, bins.hubd = filepath.Join(dir, "edged"), filepath.Join(dir, "hubd")
	for bin, pkg := range map[string]string{bins.edged: "../cmd/edged", bins.hubd: "../cmd/hubd"} {
		cmd := exec.Command("go", "build", "-o", bin, pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", pkg, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort reserves a loopback port for a process started later.
func freePort(t testing.TB) int {
	t.Helper()
	port, err := freeport.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// proc is a child process whose output goes to a log file in the test dir.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func start(t testing.TB, logPath, bin string, args ...string) *proc {
	t.Helper()
	lf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); lf.Close(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *proc) stop(t testing.TB) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Errorf("%s did not stop on SIGTERM", p.cmd.Path)
		p.kill()
	}
}

// eventually polls cond (an observable event: a port opening, a counter
// reaching a value) until it holds, failing after limit.
func eventually(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// station is one hub and one box wired through a proxy the test controls.
type station struct {
	t       testing.TB
	dir     string
	hubPort int
	hubHTTP int
	boxHTTP int
	// The booth readout's own listener: not its default port, which
	// another box under test (an e2e package run beside) may hold.
	boothHTTP int
	proxy     *proxy
	hub, box  *proc
	devices   []*device
}

func newStation(t testing.TB, devices ...string) *station {
	s := &station{t: t, dir: t.TempDir(), hubPort: freePort(t), hubHTTP: freePort(t), boxHTTP: freePort(t), boothHTTP: freePort(t)}
	hash, _ := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	writeFile(t, filepath.Join(s.dir, "hub.yaml"), fmt.Sprintf(`crossing: %s
mqtt: 127.0.0.1:%d
http: 127.0.0.1:%d
data_dir: %s
boxes:
  - box: %s
    password_hash: %q
`, crossing, s.hubPort, s.hubHTTP, filepath.Join(s.dir, "hubdata"), boxID, hash))
	s.proxy = newProxy(t, fmt.Sprintf("127.0.0.1:%d", s.hubPort))
	var devs strings.Builder
	for _, id := range devices {
		// row_gap is long: a box stalled under load (race detector, a busy
		// CI machine) must not split a document by the time its rows are read.
		d := &device{t: t, id: id, link: filepath.Join(s.dir, id+".tty")}
		d.plug()
		s.devices = append(s.devices, d)
		fmt.Fprintf(&devs, "  - id: %s\n    driver: mrz\n    transport: {type: serial, path: %s, baud: 9600}\n    options: {framing: line, row_gap: 1h}\n", id, d.link)
	}
	writeFile(t, filepath.Join(s.dir, "edged.yaml"), fmt.Sprintf(`crossing: %s
box: %s
state_dir: %s
http: 127.0.0.1:%d
booth:
  listen: 127.0.0.1:%d
hub:
  address: tcp://%s
  username: %s
  password: %s
  keepalive: 1s
  max_reconnect_interval: 300ms
devices:
%s`, crossing, boxID, filepath.Join(s.dir, "state"), s.boxHTTP, s.boothHTTP, s.proxy.addr, boxID, password, devs.String()))
	return s
}

func writeFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (s *station) startHub() {
	log := filepath.Join(s.dir, "hubd.log")
	s.hub = start(s.t, log, bins.hubd, "-config", filepath.Join(s.dir, "hub.yaml"))
	s.hub.up(s.t, log, "hubd listening", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.hubPort))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (s *station) startBox() {
	log := filepath.Join(s.dir, "edged.log")
	s.box = start(s.t, log, bins.edged, "-config", filepath.Join(s.dir, "edged.yaml"))
	s.box.up(s.t, log, "edged status page", func() bool { _, err := s.status(); return err == nil })
}

// up waits until the process started answers (cond), and fails at once
// if it exits first, or after 20 s, with the end of its log either way:
// a process that could not start says why there.
func (p *proc) up(t testing.TB, logPath, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		select {
		case <-p.done:
			t.Fatalf("%s: the process exited first; its log ends:\n%s", what, logTail(logPath))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 20s waiting for %s; its log ends:\n%s", what, logTail(logPath))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logTail is the last few KiB of a process's log.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// boxStatus is the part of edged's /status the tests read.
type boxStatus struct {
	Connected bool              `json:"connected"`
	LastSeq   map[string]uint64 `json:"last_seq"`
	Outbox    *outbox.Stats     `json:"outbox"`
}

func (s *station) status() (boxStatus, error) {
	var st boxStatus
	r, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/status", s.boxHTTP))
	if err != nil {
		return st, err
	}
	defer r.Body.Close()
	err = json.NewDecoder(r.Body).Decode(&st)
	return st, err
}

func (s *station) taken() uint64 {
	st, err := s.status()
	if err != nil || st.Outbox == nil {
		return 0
	}
	return uint64(st.Outbox.Appended)
}

// hubReadings is the hub's stored-reading counter (its /api/counters).
func (s *station) hubReadings() int64 {
	r, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/counters", s.hubHTTP))
	if err != nil {
		return -1
	}
	defer r.Body.Close()
	var c struct {
		Readings int64 `json:"readings"`
	}
	json.NewDecoder(r.Body).Decode(&c)
	return c.Readings
}

// drained waits until the box has nothing left to deliver.
func (s *station) drained(limit time.Duration) {
	eventually(s.t, limit, "outbox drained", func() bool {
		st, err := s.status()
		return err == nil && st.Outbox != nil && st.Outbox.Records == 0 && st.Connected
	})
}

// device is a serial device on a pty; plug/unplug replace the pty.
type device struct {
	t    testing.TB
	id   string
	link string
	mu   sync.Mutex
	pty  *replay.PTY
	sent int // documents written completely
}

func (d *device) plug() {
	p, err := replay.OpenPTY(d.link)
	if err != nil {
		d.t.Fatal(err)
	}
	d.mu.Lock()
	d.pty = p
	d.mu.Unlock()
	d.t.Cleanup(func() { p.Close() })
}

func (d *device) unplug() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pty.Close()
}

// document returns the two TD3 rows of document n: valid check digits, the
// document number carries n so the hub's copy can be traced to its frame.
func document(n int) (string, string) {
	cd := func(s string) string { c, _ := mrz.CheckDigit(s); return string(c) }
	num := fmt.Sprintf("T%08d", n)
	birth, expiry, personal := "740812", "351231", "ZE184226B<<<<<"
	a := num + cd(num)
	b := birth + cd(birth)
	c := expiry + cd(expiry)
	p := personal + cd(personal)
	row2 := a + "UTO" + b + "F" + c + p + cd(a+b+c+p)
	return "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", row2
}

// write sends document n; a write to an unplugged device fails and the
// document does not count as sent.
func (d *device) write(n int) bool {
	r1, r2 := document(n)
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := io.WriteString(d.pty.Device, r1+"\r\n"+r2+"\r\n"); err != nil {
		return false
	}
	d.sent++
	return true
}

// load writes documents to every device, one per interval each, until ctx ends.
func (s *station) load(ctx context.Context, every time.Duration) (wait func() int) {
	var wg sync.WaitGroup
	total := make([]int, len(s.devices))
	for i, d := range s.devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk := time.NewTicker(every)
			defer tk.Stop()
			for n := i * 10_000_000; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-tk.C:
				}
				if d.write(n) {
					total[i]++
				}
			}
		}()
	}
	return func() int {
		wg.Wait()
		sum := 0
		for _, v := range total {
			sum += v
		}
		return sum
	}
}

// stored is one reading in the hub's database.
type stored struct {
	device     string
	seq        uint64
	received   string
	number     string
	historical bool
}

// verify stops both programs and checks the hub against the box's outbox:
// per device, seqs 1..last taken each exactly once, received in seq order,
// and no frame taken twice. It returns what it found for further checks.
func (s *station) verify() []stored {
	t := s.t
	t.Helper()
	s.box.stop(t)
	s.hub.stop(t)
	ob, err := outbox.Open(filepath.Join(s.dir, "state"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]uint64{}
	for _, d := range s.devices {
		last[d.id] = ob.LastSeq(d.id)
	}
	obStats := ob.Stats()
	ob.Close()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.dir, "hubdata", "hub.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT device, seq, received, body FROM readings WHERE box=? ORDER BY device, seq`, boxID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []stored
	for rows.Next() {
		var r stored
		var body string
		if err := rows.Scan(&r.device, &r.seq, &r.received, &body); err != nil {
			t.Fatal(err)
		}
		var env struct {
			Historical bool `json:"historical"`
			Payload    struct {
				Number string `json:"number"`
			} `json:"payload"`
		}
		json.Unmarshal([]byte(body), &env)
		r.number, r.historical = env.Payload.Number, env.Historical
		out = append(out, r)
	}
	byDev := map[string][]stored{}
	for _, r := range out {
		byDev[r.device] = append(byDev[r.device], r)
	}
	numbers := map[string]bool{}
	total := 0
	for _, d := range s.devices {
		rs := byDev[d.id]
		if uint64(len(rs)) != last[d.id] {
			t.Errorf("%s: box took %d readings, hub holds %d", d.id, last[d.id], len(rs))
		}
		for i, r := range rs {
			if r.seq != uint64(i+1) {
				t.Errorf("%s: reading %d missing at the hub (found %d at position %d)", d.id, i+1, r.seq, i)
				break
			}
			if i > 0 && r.received < rs[i-1].received {
				t.Errorf("%s: seq %d reached the hub before seq %d", d.id, r.seq, rs[i-1].seq)
			}
			// Only whole documents carry a frame identity: after edged dies
			// between a document's rows, the next edged pairs the rows it
			// finds (a driver matter, not delivery), and those carry none.
			if wellFormed(r.number) {
				if numbers[r.number] {
					t.Errorf("%s: frame %s stored twice (seq %d)", d.id, r.number, r.seq)
				}
				numbers[r.number] = true
			}
		}
		total += len(rs)
	}
	if obStats.Records != 0 {
		t.Errorf("outbox still holds %d undelivered records", obStats.Records)
	}
	if n := obStats.Dropped["full"] + obStats.Refused; n != 0 {
		t.Errorf("outbox reports %d readings lost to its bound", n)
	}
	t.Logf("hub holds %d readings from %d devices", total, len(s.devices))
	return out
}

// sentTotal is how many documents were completely written to the devices.
func (s *station) sentTotal() int {
	n := 0
	for _, d := range s.devices {
		d.mu.Lock()
		n += d.sent
		d.mu.Unlock()
	}
	return n
}

func wellFormed(number string) bool {
	if len(number) != 9 || number[0] != 'T' {
		return false
	}
	for _, c := range number[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
