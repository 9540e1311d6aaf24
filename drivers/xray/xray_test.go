package xray

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/drivers/xray/dicos/dicostest"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/transport"
)

// rig runs the watcher on a temp folder and lets a test wait for scans.
type rig struct {
	dir  string
	out  *drivertest.Output
	mu   sync.Mutex
	n    int
	scan chan struct{}
	stop func()
}

func startRig(t *testing.T, dir, opts string) *rig {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := drivertest.Config(t, opts, drivertest.Transport(transport.Config{Type: "folder", Path: dir}))
	dev, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{dir: dir, out: drivertest.NewOutput(), scan: make(chan struct{}, 1)}
	w := dev.(*watcher)
	w.onScan = func() {
		r.mu.Lock()
		r.n++
		r.mu.Unlock()
		select {
		case r.scan <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, r.out) }()
	r.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(func() {
		if r.stop != nil {
			r.stop()
		}
	})
	return r
}

func (r *rig) scans() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// waitScans waits until n more scans of the folder have finished.
func (r *rig) waitScans(t *testing.T, n int) {
	t.Helper()
	target := r.scans() + n
	timeout := time.After(10 * time.Second)
	for r.scans() < target {
		select {
		case <-r.scan:
		case <-timeout:
			t.Fatalf("folder not scanned %d times", n)
		}
	}
}

func (r *rig) write(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(r.dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

const fast = "{poll: 10ms, image_wait: 5s, incomplete_grace: 1m}"

const fastNoImageWait = "{poll: 10ms, image_wait: 0s, incomplete_grace: 1m}"

func TestAlarmReportWithImageBecomesReading(t *testing.T) {
	r := startRig(t, "", fast)
	img := dicostest.ImageFile(t, "1.2.826.0.1.3680043.9.7.1.1")
	rep := dicostest.TDRFile(t, dicostest.AlarmSpec())
	imgPath := r.write(t, "scan-0001.dcs", img)
	repPath := r.write(t, "scan-0001-tdr.dcs", rep)
	r.out.Wait(t, 10*time.Second, "a reading", func(o *drivertest.Output) bool { return len(o.Readings()) == 1 })
	rd := r.out.Readings()[0]
	p := rd.Payload.(Report)
	if rd.Quality.Status != reading.OK || !p.Alarm || p.Decision != "ALARM" || len(p.Objects) != 2 {
		t.Fatalf("reading %+v", rd)
	}
	if p.File.Path != repPath || p.File.SHA256 != sum(rep) || p.File.Size != int64(len(rep)) {
		t.Errorf("report file ref %+v", p.File)
	}
	if len(p.Images) != 1 || !p.Images[0].Found || p.Images[0].Path != imgPath || p.Images[0].SHA256 != sum(img) {
		t.Errorf("image refs %+v", p.Images)
	}
	if p.DecisionTime == nil || !p.DecisionTime.Equal(time.Date(2026, 11, 1, 4, 5, 0, 0, time.UTC)) {
		t.Errorf("decision time %v", p.DecisionTime)
	}
	drivertest.Validate(t, r.out.Readings())
	// Nothing more: the report is not sent twice.
	r.waitScans(t, 3)
	if n := len(r.out.Readings()); n != 1 {
		t.Errorf("%d readings after more scans, want 1", n)
	}
}

// TestHalfWrittenFileIsNotReadEarly: a report whose writer has written half
// of it (and pauses) yields nothing and counts nothing; once complete it is
// one reading.
func TestHalfWrittenFileIsNotReadEarly(t *testing.T) {
	r := startRig(t, "", fastNoImageWait)
	rep := dicostest.TDRFile(t, dicostest.AlarmSpec())
	for _, cut := range []int{len(rep) / 2, len(rep) - 4} {
		r.write(t, "half.dcs", rep[:cut])
		r.waitScans(t, 5)
		if len(r.out.Readings()) != 0 || len(r.out.Counts()) != 0 {
			t.Fatalf("cut at %d: half-written file read early: readings %d, counts %v", cut, len(r.out.Readings()), r.out.Counts())
		}
	}
	r.write(t, "imgless-ok.txt", nil) // empty files are never read
	f, err := os.OpenFile(filepath.Join(r.dir, "half.dcs"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(rep[len(rep)-4:])
	f.Close()
	r.out.Wait(t, 10*time.Second, "the completed report", func(o *drivertest.Output) bool { return len(o.Readings()) == 1 })
	if p := r.out.Readings()[0].Payload.(Report); p.File.SHA256 != sum(rep) || len(p.Objects) != 2 {
		t.Errorf("completed report %+v", p)
	}
}

// TestRenameIntoPlace: temp names are ignored until renamed.
func TestRenameIntoPlace(t *testing.T) {
	r := startRig(t, "", "{poll: 10ms, image_wait: 0s}")
	rep := dicostest.TDRFile(t, dicostest.AlarmSpec())
	for _, name := range []string{"a.dcs.part", ".a.dcs", "a.tmp", "a.dcs~"} {
		r.write(t, name, rep)
	}
	r.waitScans(t, 4)
	if len(r.out.Readings()) != 0 {
		t.Fatalf("temp-named file read")
	}
	if err := os.Rename(filepath.Join(r.dir, "a.dcs.part"), filepath.Join(r.dir, "a.dcs")); err != nil {
		t.Fatal(err)
	}
	r.out.Wait(t, 10*time.Second, "the renamed report", func(o *drivertest.Output) bool { return len(o.Readings()) == 1 })
	// The image never arrives: sent without it, suspect, found=false.
	rd := r.out.Readings()[0]
	if rd.Quality.Status != reading.Suspect || rd.Payload.(Report).Images[0].Found {
		t.Errorf("report without its Image: %+v", rd)
	}
}

func TestClearReportAndBadFiles(t *testing.T) {
	r := startRig(t, "", "{poll: 10ms, image_wait: 0s, incomplete_grace: 30ms}")
	r.write(t, "junk.dcs", []byte("this is not DICOM at all, just text that a scanner might drop"))
	r.write(t, "clear.dcs", dicostest.TDRFile(t, dicostest.Spec{UID: "1.2.3", Decision: "CLEAR", Time: "20261101090000", Total: 0}))
	r.write(t, "cut.dcs", dicostest.TDRFile(t, dicostest.Spec{UID: "1.2.4", Decision: "ALARM", Time: "20261101090000", Alarms: 1, Total: 2,
		Objects: []dicostest.Object{{ID: 1, Category: "WEAPON", Prob: 0.5, Polygon: []float64{1, 2, 3, 4, 5, 6}, Image: "1.2.9"}}}))
	r.out.Wait(t, 10*time.Second, "two reports and the junk counted", func(o *drivertest.Output) bool {
		return len(o.Readings()) == 2 && o.Counts()["files_unparsed"] == 1
	})
	byUID := map[string]reading.Reading{}
	for _, rd := range r.out.Readings() {
		byUID[rd.Payload.(Report).SOPInstanceUID] = rd
	}
	if c := byUID["1.2.3"]; c.Quality.Status != reading.OK || c.Payload.(Report).Alarm {
		t.Errorf("clear report %+v", c)
	}
	// One object of two declared: reported (an alarm is never dropped) but suspect.
	if c := byUID["1.2.4"]; c.Quality.Status != reading.Suspect || !c.Payload.(Report).Alarm {
		t.Errorf("short report %+v", c)
	}
	drivertest.Validate(t, r.out.Readings())
}

func TestStateFileSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(t.TempDir(), "xray.seen")
	opts := "{poll: 10ms, image_wait: 5s, state_file: " + state + "}"
	r := startRig(t, dir, opts)
	r.write(t, "img.dcs", dicostest.ImageFile(t, "1.2.826.0.1.3680043.9.7.1.1"))
	r.write(t, "one.dcs", dicostest.TDRFile(t, dicostest.AlarmSpec()))
	r.out.Wait(t, 10*time.Second, "first report", func(o *drivertest.Output) bool { return len(o.Readings()) == 1 })
	r.stop()
	r.stop = nil

	r2 := startRig(t, dir, opts)
	spec := dicostest.AlarmSpec()
	spec.UID = "1.2.826.0.1.3680043.9.7.1.3"
	r2.write(t, "two.dcs", dicostest.TDRFile(t, spec))
	r2.out.Wait(t, 10*time.Second, "second report only", func(o *drivertest.Output) bool { return len(o.Readings()) >= 1 })
	r2.waitScans(t, 3)
	if len(r2.out.Readings()) != 1 {
		t.Fatalf("after restart %d readings, want only the new report", len(r2.out.Readings()))
	}
	p := r2.out.Readings()[0].Payload.(Report)
	if p.SOPInstanceUID != spec.UID || !p.Images[0].Found {
		t.Errorf("after restart: %+v (the image known before the restart must be found)", p)
	}
}

func TestMissingFolderIsUnplugged(t *testing.T) {
	cfg := drivertest.Config(t, "{}", drivertest.Transport(transport.Config{Type: "folder", Path: filepath.Join(t.TempDir(), "nope")}))
	dev, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.Run(context.Background(), drivertest.NewOutput()); err == nil {
		t.Fatal("missing folder accepted")
	}
}

func TestOptionsAreValidated(t *testing.T) {
	for _, src := range []string{"poll: 0s", "pattern: '['", "time_zone: Mars/Base", "colour: red", "image_wait: -1s"} {
		cfg := drivertest.Config(t, src, drivertest.Transport(transport.Config{Type: "folder", Path: "/tmp"}))
		if _, err := New(cfg); err == nil {
			t.Errorf("options %q accepted", src)
		}
	}
	cfg := drivertest.Config(t, "{}", drivertest.Transport(transport.Config{Type: "serial", Path: "/dev/ttyS0"}))
	if _, err := New(cfg); err == nil {
		t.Error("serial transport accepted")
	}
}
