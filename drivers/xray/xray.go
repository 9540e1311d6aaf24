// Package xray watches the folder an X-ray scanner exports DICOS files to
// (NEMA IIC 1: DICOM Part-10 files for security imaging) and turns each
// Threat Detection Report into a reading: the alarm decision and its time,
// each potential threat object's category, probability and bounding polygon,
// and references (path + SHA-256) to the images the report belongs to.
// Images stay in the folder: readings carry references, never pixels.
//
// Files are parsed with github.com/suyashkumar/dicom, never by hand.
package xray

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kordon/kordon/drivers/xray/dicos"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/reading"
)

// Driver registers the family (drivers/all).
func Driver() device.Driver {
	return device.Driver{
		Name:  "dicos",
		Kind:  "threat_report",
		Doc:   "X-ray scanner DICOS export folder: Threat Detection Reports (transport type folder)",
		Ports: []device.PortKind{device.Folder},
		New:   New,
	}
}

// Options are the driver's settings in a box config.
type Options struct {
	// Poll is how often the folder is listed. A file is read once its size
	// and modification time are the same at two consecutive looks.
	Poll time.Duration `yaml:"poll"`
	// Pattern is a glob the file names must match (default "*").
	Pattern string `yaml:"pattern"`
	// ImageWait is how long a report waits for the image it references to
	// appear in the folder before it is sent without it (default 2s).
	ImageWait time.Duration `yaml:"image_wait"`
	// IncompleteGrace is how long a file that reads as cut short or
	// unparseable must stay unchanged before it is reported as such rather
	// than taken for a slow writer (default 10s).
	IncompleteGrace time.Duration `yaml:"incomplete_grace"`
	// TimeZone is the zone of AlarmDecisionTime values written without a
	// UTC offset (default UTC).
	TimeZone string `yaml:"time_zone"`
	// StateFile, when set, remembers which files were handled, so a restart
	// does not report them again. Without it, a restart re-reads the folder.
	StateFile string `yaml:"state_file"`
}

// Report is the threat_report payload.
type Report struct {
	File           FileRef    `json:"file"`
	SOPInstanceUID string     `json:"sop_instance_uid,omitempty"`
	Alarm          bool       `json:"alarm"`
	Decision       string     `json:"decision,omitempty"` // as written: ALARM, CLEAR, UNKNOWN
	DecisionTime   *time.Time `json:"decision_time,omitempty"`
	AlarmObjects   *int       `json:"alarm_objects,omitempty"`
	TotalObjects   *int       `json:"total_objects,omitempty"`
	// TDRType is who decided, as written (MACHINE, OPERATOR, GROUND_TRUTH,
	// OTHER); DecidedBy the same in lower case, "" when not written. An
	// operator's CLEAR of a machine alarm is its own report.
	TDRType   string `json:"tdr_type,omitempty"`
	DecidedBy string `json:"decided_by,omitempty"`
	// BagID (DICOS object of inspection id), ScanUID, ScanID: which bag
	// and which scan the report is about.
	BagID   string `json:"bag_id,omitempty"`
	ScanUID string `json:"scan_uid,omitempty"`
	ScanID  string `json:"scan_id,omitempty"`
	// Damaged: the file was cut or corrupt, or lacks required content. A
	// damaged report alarms on any sign of a threat; the default rules
	// alert on a damaged report that does not.
	Damaged bool           `json:"damaged,omitempty"`
	Objects []dicos.Object `json:"objects"`
	Images  []ImageRef     `json:"images"`
}

func (Report) Kind() string { return "threat_report" }

// FileRef names a file on the box.
type FileRef struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// ImageRef is an image a report references, by its SOP instance UID.
type ImageRef struct {
	UID    string `json:"uid"`
	Found  bool   `json:"found"`
	Path   string `json:"path,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

type watcher struct {
	cfg  device.Config
	opts Options
	loc  *time.Location
	now  func() time.Time
	// onScan, in tests, is told when a scan of the folder has finished.
	onScan func()
}

// New validates the options.
func New(cfg device.Config) (device.Device, error) {
	o := Options{Poll: time.Second, Pattern: "*", ImageWait: 2 * time.Second, IncompleteGrace: 10 * time.Second}
	if err := cfg.Options.Decode(&o); err != nil {
		return nil, err
	}
	bad := func(field, msg string) error { return cfg.Options.Errorf(field, "%s", msg) }
	if cfg.Transport.Type != "" && cfg.Transport.Type != "folder" {
		return nil, bad("transport", fmt.Sprintf("type %q: the dicos driver watches a folder (type: folder, path: ...)", cfg.Transport.Type))
	}
	if cfg.Transport.Path == "" {
		return nil, bad("transport", "folder path missing")
	}
	if o.Poll <= 0 || o.ImageWait < 0 || o.IncompleteGrace < 0 {
		return nil, bad("options", "poll must be positive, image_wait and incomplete_grace not negative")
	}
	if _, err := filepath.Match(o.Pattern, "x"); err != nil {
		return nil, bad("pattern", err.Error())
	}
	w := &watcher{cfg: cfg, opts: o, loc: time.UTC, now: cfg.Clock}
	if o.TimeZone != "" {
		loc, err := time.LoadLocation(o.TimeZone)
		if err != nil {
			return nil, bad("time_zone", err.Error())
		}
		w.loc = loc
	}
	return w, nil
}

// fileState is what the watcher knows of one file in the folder.
type fileState struct {
	size    int64
	mtime   time.Time
	first   time.Time // box time it was first seen (the reading's origin)
	stable  time.Time // box time its size/mtime were last seen to change
	looks   int       // consecutive looks with the same size and mtime
	done    bool
	waiting time.Time // box time a report started waiting for its image
}

type image struct{ path, sha string }

// Run watches the folder until ctx ends or the folder goes away.
func (w *watcher) Run(ctx context.Context, out device.Output) error {
	dir := w.cfg.Transport.Path
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		return &device.Fault{Reason: device.Unplugged, Err: fmt.Errorf("folder %s: %w", dir, err)}
	}
	st, err := loadState(w.opts.StateFile, dir)
	if err != nil {
		return &device.Fault{Reason: device.Errors, Err: err}
	}
	defer st.close()
	out.Up()
	files := map[string]*fileState{}
	images := st.images
	tick := time.NewTicker(w.opts.Poll)
	defer tick.Stop()
	for {
		if err := w.scan(dir, files, images, st, out); err != nil {
			return &device.Fault{Reason: device.Unplugged, Err: err}
		}
		if w.onScan != nil {
			w.onScan()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// maxDepth bounds how deep the watch goes into subfolders (scanners file
// exports by date: 2026/11/01/...).
const maxDepth = 6

type listed struct {
	name string // relative to the watched folder
	info os.FileInfo
}

// listFiles lists the regular files under dir, in subfolders too (not
// hidden ones, not symlinks, at most maxDepth deep). A subfolder that
// vanishes or cannot be read while listed is skipped; only the watched
// folder itself failing is an error.
func listFiles(dir string) ([]listed, error) {
	var out []listed
	var walk func(rel string, depth int) error
	walk = func(rel string, depth int) error {
		entries, err := os.ReadDir(filepath.Join(dir, rel))
		if err != nil {
			return err
		}
		for _, e := range entries {
			name := e.Name()
			if ignored(name) {
				continue
			}
			r := filepath.Join(rel, name)
			switch {
			case e.IsDir():
				if depth < maxDepth {
					_ = walk(r, depth+1)
				}
			case e.Type().IsRegular():
				info, err := e.Info()
				if err != nil {
					continue // vanished between listing and stat
				}
				out = append(out, listed{name: r, info: info})
			}
		}
		return nil
	}
	return out, walk("", 0)
}

// ignored are names of files still being written under the
// rename-into-place convention.
func ignored(name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") {
		return true
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".tmp", ".part", ".partial", ".filepart", ".crdownload":
		return true
	}
	return false
}

func (w *watcher) scan(dir string, files map[string]*fileState, images map[string]image, st *state, out device.Output) error {
	entries, err := listFiles(dir)
	if err != nil {
		return fmt.Errorf("folder %s: %w", dir, err)
	}
	now := w.now()
	present := map[string]bool{}
	var ready []string
	for _, e := range entries {
		name := e.name
		if ok, _ := filepath.Match(w.opts.Pattern, filepath.Base(name)); !ok {
			continue
		}
		info := e.info
		present[name] = true
		fs := files[name]
		if fs == nil || fs.size != info.Size() || !fs.mtime.Equal(info.ModTime()) {
			first := now
			if fs != nil {
				first = fs.first
			}
			files[name] = &fileState{size: info.Size(), mtime: info.ModTime(), first: first, stable: now}
			continue
		}
		fs.looks++
		if fs.done || fs.size == 0 {
			continue
		}
		if st.handled(name, fs.size, fs.mtime) {
			fs.done = true
			continue
		}
		ready = append(ready, name)
	}
	for name := range files {
		if !present[name] {
			delete(files, name)
		}
	}
	// Images first, so reports find the images written with them.
	var reports []*pendingReport
	slices.Sort(ready)
	for _, name := range ready {
		if pr := w.read(dir, name, files[name], images, st, out, now); pr != nil {
			reports = append(reports, pr)
		}
	}
	for _, pr := range reports {
		w.report(pr, images, st, out, now)
	}
	return nil
}

type pendingReport struct {
	name string
	fs   *fileState
	ref  FileRef
	tdr  *dicos.TDR
}

// read parses one stable file. Images are indexed; reports are returned
// for the second pass.
func (w *watcher) read(dir, name string, fs *fileState, images map[string]image, st *state, out device.Output, now time.Time) *pendingReport {
	path := filepath.Join(dir, name)
	h, tdr, sum, err := w.parseFile(path, fs)
	if errors.Is(err, errChanged) {
		return nil // the next look sees the new size
	}
	settled := now.Sub(fs.stable) >= w.opts.IncompleteGrace
	switch {
	case errors.Is(err, dicos.ErrNotDICOS):
		fs.done = true
		out.Count("files_not_dicos", 1)
		st.mark(name, fs, "", "")
		return nil
	case err != nil:
		// Perhaps a writer that paused mid-file: only a file that stays
		// like this is bad.
		if settled {
			fs.done = true
			out.Count("files_unparsed", 1)
			st.mark(name, fs, "", "")
		}
		return nil
	case tdr == nil:
		fs.done = true
		if h.SOPInstanceUID != "" {
			images[h.SOPInstanceUID] = image{path: path, sha: sum}
		}
		st.mark(name, fs, h.SOPInstanceUID, sum)
		return nil
	case len(tdr.Missing) > 0 && !settled:
		return nil
	case len(tdr.Missing) > 0:
		tdr.SalvagedThreats = max(0, salvage(path, fs.size)-tdr.Threats())
	}
	return &pendingReport{name: name, fs: fs, tdr: tdr, ref: FileRef{Path: path, SHA256: sum, Size: fs.size}}
}

// report emits a report once its images are known or ImageWait has passed.
func (w *watcher) report(pr *pendingReport, images map[string]image, st *state, out device.Output, now time.Time) {
	t := pr.tdr
	refs := make([]ImageRef, 0, len(t.ImageUIDs))
	var missing []string
	for _, uid := range t.ImageUIDs {
		if im, ok := images[uid]; ok {
			refs = append(refs, ImageRef{UID: uid, Found: true, Path: im.path, SHA256: im.sha})
		} else {
			refs = append(refs, ImageRef{UID: uid})
			missing = append(missing, uid)
		}
	}
	if len(missing) > 0 {
		if pr.fs.waiting.IsZero() {
			pr.fs.waiting = now
		}
		if now.Sub(pr.fs.waiting) < w.opts.ImageWait {
			return
		}
	}
	rep := Report{
		File: pr.ref, SOPInstanceUID: t.SOPInstanceUID, Alarm: t.Alarm(), Decision: t.Decision,
		AlarmObjects: t.AlarmObjects, TotalObjects: t.TotalObjects, Objects: t.Objects, Images: refs,
		TDRType: t.TDRType, DecidedBy: decidedBy(t.TDRType), BagID: t.BagID, ScanUID: t.ScanUID, ScanID: t.ScanID,
		Damaged: len(t.Missing) > 0,
	}
	if t.DecisionTime != nil {
		at := *t.DecisionTime
		if t.TimeNoOffset && w.loc != time.UTC {
			at = time.Date(at.Year(), at.Month(), at.Day(), at.Hour(), at.Minute(), at.Second(), at.Nanosecond(), w.loc).UTC()
		}
		rep.DecisionTime = &at
	}
	var doubts []string
	if len(t.Missing) > 0 {
		doubts = append(doubts, "report lacks "+strings.Join(t.Missing, ", "))
	}
	if t.SalvagedThreats > 0 {
		doubts = append(doubts, fmt.Sprintf("%d THREAT flag(s) found in the damaged part", t.SalvagedThreats))
	}
	if len(missing) > 0 {
		doubts = append(doubts, fmt.Sprintf("%d referenced image(s) not in the folder", len(missing)))
	}
	q := reading.Quality{Status: reading.OK}
	if len(doubts) > 0 {
		q = reading.Quality{Status: reading.Suspect, Reason: dicos.Clip(strings.Join(doubts, "; "), 512)}
	}
	if err := out.Emit(reading.Reading{Origin: pr.fs.first, Payload: rep, Quality: q}); err != nil {
		// Not kept (counted by the box): not marked handled, so a later
		// scan reports the file again.
		return
	}
	pr.fs.done = true
	st.mark(pr.name, pr.fs, "", "")
}

func decidedBy(tdrType string) string {
	switch tdrType {
	case "MACHINE", "OPERATOR", "GROUND_TRUTH", "OTHER":
		return strings.ToLower(tdrType)
	}
	return ""
}

var errChanged = errors.New("file changed while being read")

// parseFile parses a file and hashes all of it in one pass: the parser
// reads through a tee into the hash, the rest (skipped pixel data) is
// hashed after.
func (w *watcher) parseFile(path string, fs *fileState) (dicos.Header, *dicos.TDR, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return dicos.Header{}, nil, "", errChanged // vanished or renamed away
	}
	defer f.Close()
	hash := sha256.New()
	// Pixel data is skipped by the parser (read past, not kept), so an
	// image costs its header in memory, whatever its size.
	stream := io.NewSectionReader(f, 0, fs.size)
	h, tdr, perr := dicos.ParseTo(f, fs.size, stream, hash)
	if _, err := io.Copy(hash, stream); err != nil {
		return dicos.Header{}, nil, "", errChanged
	}
	if info, err := f.Stat(); err != nil || info.Size() != fs.size || !info.ModTime().Equal(fs.mtime) {
		return dicos.Header{}, nil, "", errChanged
	}
	return h, tdr, hex.EncodeToString(hash.Sum(nil)), perr
}

// salvage reads an incomplete report's bytes (bounded: reports are small) for
// THREAT flags the parser could not reach.
func salvage(path string, size int64) int {
	const maxReport = 16 << 20
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, min(size, maxReport)))
	if err != nil {
		return 0
	}
	return dicos.SalvageThreatFlags(b)
}

// state remembers handled files across restarts: one line per file,
// "size<TAB>mtime-ns<TAB>uid<TAB>sha256<TAB>name" (uid and sha256 for images).
type state struct {
	f      *os.File
	seen   map[string]bool // name|size|mtime
	images map[string]image
	dir    string
}

func loadState(path, dir string) (*state, error) {
	st := &state{seen: map[string]bool{}, images: map[string]image{}, dir: dir}
	if path == "" {
		return st, nil
	}
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("state_file: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, "\t", 5)
		if len(parts) != 5 {
			continue // a torn last line from a power cut
		}
		st.seen[parts[4]+"|"+parts[0]+"|"+parts[1]] = true
		if parts[2] != "" {
			st.images[parts[2]] = image{path: filepath.Join(dir, parts[4]), sha: parts[3]}
		}
	}
	if st.f, err = os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err != nil {
		return nil, fmt.Errorf("state_file: %w", err)
	}
	return st, nil
}

func stateKey(name string, size int64, mtime time.Time) string {
	return name + "|" + strconv.FormatInt(size, 10) + "|" + strconv.FormatInt(mtime.UnixNano(), 10)
}

func (s *state) handled(name string, size int64, mtime time.Time) bool {
	return s.seen[stateKey(name, size, mtime)]
}

// mark records a handled file; image entries keep their uid and hash so a
// report after a restart still finds them.
func (s *state) mark(name string, fs *fileState, uid, sha string) {
	s.seen[stateKey(name, fs.size, fs.mtime)] = true
	if s.f == nil {
		return
	}
	fmt.Fprintf(s.f, "%d\t%d\t%s\t%s\t%s\n", fs.size, fs.mtime.UnixNano(), uid, sha, name)
}

func (s *state) close() {
	if s.f != nil {
		s.f.Close()
	}
}
