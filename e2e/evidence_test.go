package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/all"
	"github.com/kordon/kordon/edge"
	"github.com/kordon/kordon/hub"
	"github.com/kordon/kordon/hub/dash"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/evidence/evidencetest"
	"github.com/kordon/kordon/internal/logging"
)

// Evidence on request, through the real path: a DICOS alarm report and
// its image dropped into the export folder of a real edged (dicos driver),
// the reading and alert at a real hub, and the image asked for on the
// dashboard API, fetched from the box over its MQTT link (through a TCP
// proxy the test can cut), verified, stored and rendered.

const imgRows, imgCols = 768, 512 // 768 KiB of 16-bit pixels: 6 chunks of 128 KiB

// cutter forwards box↔hub traffic and can drop every connection once a
// given number of bytes has gone from the box to the hub.
type cutter struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	conns    []net.Conn
	up       atomic.Int64 // bytes box → hub
	cutAt    atomic.Int64 // 0: never
	cuts     atomic.Int64
}

func newCutter(t *testing.T, upstream string) *cutter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, upstream: upstream}
	t.Cleanup(func() { ln.Close(); c.cut() })
	go func() {
		for {
			box, err := ln.Accept()
			if err != nil {
				return
			}
			hubc, err := net.Dial("tcp", upstream)
			if err != nil {
				box.Close()
				continue
			}
			c.mu.Lock()
			c.conns = append(c.conns, box, hubc)
			c.mu.Unlock()
			go func() { io.Copy(box, hubc); box.Close() }()
			go c.forward(hubc, box)
		}
	}()
	return c
}

func (c *cutter) forward(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 16<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if at := c.cutAt.Load(); at > 0 && c.up.Add(int64(n)) >= at && c.cutAt.CompareAndSwap(at, 0) {
				c.cuts.Add(1)
				c.cut() // mid-transfer: this write never arrives
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// armCut drops the link once n more bytes have gone from the box to the hub.
func (c *cutter) armCut(n int64) { c.cutAt.Store(c.up.Load() + n) }

func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cn := range c.conns {
		cn.Close()
	}
	c.conns = nil
}

type evStation struct {
	hub    *hub.Hub
	cut    *cutter
	dir    string // the scanner's export folder on the box
	rec    *recorder
	alert  contract.Alert
	image  []byte
	imgSum string
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// evidenceHub is a real hub whose technicians may not view evidence.
func evidenceHub(t *testing.T) *hub.Hub {
	t.Helper()
	cfg := &hub.Config{Crossing: crossing, MQTT: "127.0.0.1:0", HTTP: "127.0.0.1:0", DataDir: t.TempDir(),
		Observers: []hub.Observer{{User: "watch", PasswordHash: hash(t, "watchpw")}},
		Boxes:     []hub.BoxCreds{{Box: "lane-3", PasswordHash: hash(t, "pw3")}},
		Users: []dash.User{
			{User: "sup", Role: dash.RoleSupervisor, PasswordHash: hash(t, "suppw")},
			{User: "off", Role: dash.RoleOfficer, PasswordHash: hash(t, "offpw")},
			{User: "tech", Role: dash.RoleTechnician, PasswordHash: hash(t, "techpw")},
		},
		Evidence: hub.EvidenceConfig{Roles: []string{dash.RoleSupervisor, dash.RoleOfficer}, ChunkTimeout: 500 * time.Millisecond},
	}
	h, err := hub.New(cfg, evLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// runBox runs edged "lane-3" in-process with these devices (YAML list).
func runBox(t *testing.T, ctx context.Context, hubAddr, devices string) {
	t.Helper()
	src := fmt.Sprintf("crossing: %s\nbox: lane-3\nstate_dir: %s\nhub: {address: \"tcp://%s\", username: lane-3, password: pw3}\ndevices:\n%s",
		crossing, t.TempDir(), hubAddr, devices)
	bcfg, devs, err := edge.ParseConfig("test.yaml", []byte(src), all.Drivers())
	if err != nil {
		t.Fatal(err)
	}
	b, err := edge.New(bcfg, devs, all.Drivers(), evLog())
	if err != nil {
		t.Fatal(err)
	}
	bctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); b.Run(bctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func startEvidenceStation(t *testing.T, ctx context.Context) *evStation {
	t.Helper()
	h := evidenceHub(t)
	s := &evStation{hub: h, cut: newCutter(t, h.MQTTAddr()), dir: t.TempDir()}
	s.rec = subscribe(t, "tcp://"+h.MQTTAddr(), "watch", "watchpw", contract.Prefix+"/"+crossing+"/#")
	runBox(t, ctx, s.cut.ln.Addr().String(), fmt.Sprintf(`
  - id: xray1
    driver: dicos
    transport: {type: folder, path: %s}
    options: {poll: 50ms}
`, s.dir))
	s.rec.deviceUp(t, "lane-3", "xray1")

	s.image = evidencetest.Image(t, imgRows, imgCols)
	s.imgSum = sha(s.image)
	s.drop(t, "0001-image.dcs", s.image)
	s.drop(t, "0001-tdr.dcs", evidencetest.AlarmReport(t))
	a := decode[contract.Alert](t, s.rec.waitTopic(t, contract.Alerts(crossing), 30*time.Second))
	if a.Rule != "xray-tdr-alarm" || len(a.Readings) != 1 {
		t.Fatalf("alert %+v", a)
	}
	s.alert = a
	return s
}

func (s *evStation) drop(t *testing.T, name string, b []byte) {
	tmp := filepath.Join(s.dir, name+".part")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, name)); err != nil {
		t.Fatal(err)
	}
}

func (s *evStation) readingPath() string {
	r := s.alert.Readings[0]
	return fmt.Sprintf("/dash/api/evidence/%s/%s/%d", r.Box, r.Device, r.Seq)
}

func login(t *testing.T, h *hub.Hub, user, pw string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	base := "http://" + h.HTTPAddr()
	// The log-in form may carry a CSRF token (with its cookie): send it back.
	resp, err := c.Get(base + "/dash/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	form := url.Values{"user": {user}, "password": {pw}}
	if m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page); m != nil {
		form.Set("csrf", string(m[1]))
	}
	resp, err = c.PostForm(base+"/dash/login", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return c
}

func get(t *testing.T, c *http.Client, h *hub.Hub, path string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get("http://" + h.HTTPAddr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// imageRef is the pointer of the image in the reading, from the list API.
func (s *evStation) imageRef(t *testing.T, c *http.Client) string {
	t.Helper()
	resp, body := get(t, c, s.hub, s.readingPath())
	var files []hub.EvidenceFile
	if resp.StatusCode != 200 || json.Unmarshal(body, &files) != nil {
		t.Fatalf("list: %s %s", resp.Status, body)
	}
	for _, f := range files {
		if f.SHA256 == s.imgSum {
			return f.Pointer
		}
	}
	t.Fatalf("the reading lists no image with the dropped file's hash: %s", body)
	return ""
}

func TestXRayImageFetchedFromBoxAndShownAsPicture(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s := startEvidenceStation(t, ctx)
	sup := login(t, s.hub, "sup", "suppw")
	ref := s.imageRef(t, sup)
	view := s.readingPath() + "/file?as=png&ref=" + url.QueryEscape(ref)

	// Not logged in, and a role that may not view: refused, nothing asked of the box.
	if resp, _ := get(t, http.DefaultClient, s.hub, view); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous: %s", resp.Status)
	}
	if resp, _ := get(t, login(t, s.hub, "tech", "techpw"), s.hub, view); resp.StatusCode != http.StatusForbidden {
		t.Errorf("technician: %s, want 403", resp.Status)
	}
	if c := s.hub.EvidenceCounters(); c.Requests != 0 || c.FromBox != 0 {
		t.Errorf("a refused viewer made the hub ask the box: %+v", c)
	}

	// A supervisor sees the picture, fetched from the box.
	resp, body := get(t, sup, s.hub, view)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || resp.Header.Get("X-Evidence-Source") != "box" {
		t.Fatalf("view: %s %v %.200s", resp.Status, resp.Header, body)
	}
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	checkRamp(t, img)
	stored, err := os.ReadFile(s.hub.EvidencePath(s.imgSum))
	if err != nil || !bytes.Equal(stored, s.image) {
		t.Fatalf("the hub's store does not hold the image byte for byte under its SHA-256: %v", err)
	}

	// Asked again (by an officer): served from the hub's store, the box is not asked.
	asked := s.hub.EvidenceCounters().Requests
	resp, body = get(t, login(t, s.hub, "off", "offpw"), s.hub, view)
	if resp.StatusCode != 200 || resp.Header.Get("X-Evidence-Source") != "store" {
		t.Fatalf("second view: %s %v", resp.Status, resp.Header)
	}
	if _, err := png.Decode(bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	if c := s.hub.EvidenceCounters(); c.Requests != asked || c.FromStore != 1 || c.FromBox != 1 {
		t.Errorf("counters after the second view: %+v", c)
	}

	// The report file itself downloads byte for byte.
	resp, body = get(t, sup, s.hub, s.readingPath()+"/file?ref=/file")
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), "0001-tdr.dcs") {
		t.Fatalf("download: %s %v", resp.Status, resp.Header)
	}
	if tdr, _ := os.ReadFile(filepath.Join(s.dir, "0001-tdr.dcs")); !bytes.Equal(body, tdr) {
		t.Error("the downloaded report differs from the box's file")
	}

	// Who saw what, and when: the access log.
	log, err := s.hub.EvidenceLog(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range log {
		lines = append(lines, e.User+" "+e.Action+" "+e.Pointer+" "+e.Outcome)
		if e.Time.IsZero() || e.Box != "lane-3" || e.Device != "xray1" {
			t.Errorf("log entry %+v", e)
		}
	}
	want := []string{"sup download /file box", "off view " + ref + " store", "sup view " + ref + " box", "tech view " + ref + " denied"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("access log:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	resp, body = get(t, sup, s.hub, "/dash/api/evidence/log")
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"user":"tech"`)) {
		t.Errorf("log API: %s %.300s", resp.Status, body)
	}

	// Observers (read-only MQTT identities) never see the file go by.
	for topic := range s.rec.all() {
		if strings.HasSuffix(topic, "/evidence") {
			t.Errorf("an observer received evidence chunks on %s", topic)
		}
	}
}

// checkRamp: the picture is the image's diagonal ramp, stretched to 8 bits.
func checkRamp(t *testing.T, img image.Image) {
	t.Helper()
	if b := img.Bounds(); b.Dx() != imgCols || b.Dy() != imgRows {
		t.Fatalf("picture is %v, want %dx%d", b, imgCols, imgRows)
	}
	for _, p := range [][2]int{{0, 0}, {imgCols - 1, imgRows - 1}, {100, 300}, {imgCols - 1, 0}} {
		want := evidencetest.Pixel(p[0], p[1], imgRows, imgCols) * 255 / 4095
		r, _, _, _ := img.At(p[0], p[1]).RGBA()
		if got := int(r >> 8); got < want-1 || got > want+1 {
			t.Errorf("pixel %v = %d, want %d", p, got, want)
		}
	}
}

func TestTamperedImageOnTheBoxIsRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s := startEvidenceStation(t, ctx)
	sup := login(t, s.hub, "sup", "suppw")
	ref := s.imageRef(t, sup)
	edited := append([]byte(nil), s.image...)
	edited[len(edited)-1] ^= 0xff // one pixel retouched after the scan
	if err := os.WriteFile(filepath.Join(s.dir, "0001-image.dcs"), edited, 0o644); err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, sup, s.hub, s.readingPath()+"/file?as=png&ref="+url.QueryEscape(ref))
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), "changed") {
		t.Fatalf("tampered image: %s %s", resp.Status, body)
	}
	if _, err := os.Stat(s.hub.EvidencePath(s.imgSum)); err == nil {
		t.Error("a tampered file was stored")
	}
	log, _ := s.hub.EvidenceLog(ctx, 1)
	if len(log) != 1 || log[0].Outcome != "refused:changed" || log[0].User != "sup" {
		t.Errorf("access log: %+v", log)
	}
}

func TestEvidenceFetchSurvivesALinkCutMidTransfer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s := startEvidenceStation(t, ctx)
	sup := login(t, s.hub, "sup", "suppw")
	ref := s.imageRef(t, sup)
	s.cut.armCut(300 << 10) // after about two of the six chunks
	resp, body := get(t, sup, s.hub, s.readingPath()+"/file?as=png&ref="+url.QueryEscape(ref))
	if resp.StatusCode != 200 {
		t.Fatalf("view after a cut: %s %s", resp.Status, body)
	}
	if s.cut.cuts.Load() != 1 {
		t.Fatalf("the link was cut %d times, want 1", s.cut.cuts.Load())
	}
	if _, err := png.Decode(bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	stored, err := os.ReadFile(s.hub.EvidencePath(s.imgSum))
	if err != nil || !bytes.Equal(stored, s.image) {
		t.Fatalf("stored file after the cut: %v", err)
	}
	if c := s.hub.EvidenceCounters(); c.Requests < 2 || c.FromBox != 1 {
		t.Errorf("counters: %+v (the hub should have asked again after the cut)", c)
	}
}

func evLog() *slog.Logger {
	if os.Getenv("EVLOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return logging.Discard()
}

// TestN42ExportDownloadedFromBox: a radiation portal alarm replayed through
// a pty into edged's rpm driver writes an N42 export on the box; its
// reading's reference downloads from the dashboard byte for byte.
func TestN42ExportDownloadedFromBox(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	h := evidenceHub(t)
	rec := subscribe(t, "tcp://"+h.MQTTAddr(), "watch", "watchpw", contract.Prefix+"/"+crossing+"/#")
	n42 := t.TempDir()
	tty, play := replayDevice(t, "../drivers/rpm/testdata/traces/source.jsonl", false)
	runBox(t, ctx, h.MQTTAddr(), fmt.Sprintf(`
  - id: rpm1
    driver: rpm
    transport: {type: serial, path: %s}
    options: {k: 5, n42_dir: %s}
`, tty, n42))
	rec.deviceUp(t, "lane-3", "rpm1")
	play(ctx)
	// The export is written when the alarmed occupancy ends; the reading
	// that reports the end carries its reference.
	var r struct {
		Box, Device string
		Seq         uint64
	}
	rec.waitMatch(t, contract.Readings(crossing, "lane-3", "rpm1"), 30*time.Second, func(m [][]byte) bool {
		for _, b := range m {
			if bytes.Contains(b, []byte(`"n42":{`)) && json.Unmarshal(b, &r) == nil {
				return true
			}
		}
		return false
	})
	sup := login(t, h, "sup", "suppw")
	path := fmt.Sprintf("/dash/api/evidence/%s/%s/%d", r.Box, r.Device, r.Seq)
	resp, body := get(t, sup, h, path)
	var files []hub.EvidenceFile
	if resp.StatusCode != 200 || json.Unmarshal(body, &files) != nil || len(files) != 1 || !strings.HasSuffix(files[0].Name, ".n42") {
		t.Fatalf("list: %s %s", resp.Status, body)
	}
	resp, body = get(t, sup, h, path+"/file?ref="+url.QueryEscape(files[0].Pointer))
	onBox, err := os.ReadFile(files[0].Path)
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, onBox) || sha(body) != files[0].SHA256 {
		t.Fatalf("download: %s (%d bytes, box has %d: %v)", resp.Status, len(body), len(onBox), err)
	}
	if !strings.Contains(resp.Header.Get("Content-Disposition"), files[0].Name) || !bytes.Contains(body, []byte("RadInstrumentData")) {
		t.Errorf("download headers %v, body %.100s", resp.Header, body)
	}
}
