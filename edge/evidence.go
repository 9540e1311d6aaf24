package edge

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kordon/kordon/internal/atomicfile"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/evidence"
	"github.com/kordon/kordon/internal/reading"
)

// Evidence on request (docs/mqtt.md, "Evidence files"). The box serves a
// file only when a reading it took referenced exactly that path with
// exactly that SHA-256: every such reference is kept in an index in
// state_dir (evidence.jsonl), and a request is checked against it — the
// hub never names an arbitrary file. The file itself must still be a
// regular file (no symlink) with that hash, or the box refuses.

// maxIndexed bounds the index; the oldest references are forgotten first.
const maxIndexed = 20000

type evidenceEntry struct {
	SHA256 string    `json:"sha256"`
	Path   string    `json:"path"`
	Device string    `json:"device"`
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
}

// evidenceBox is the box's evidence index and server.
type evidenceBox struct {
	mu     sync.Mutex
	loaded bool
	file   string
	byHash map[string]evidenceEntry // sha256 + NUL + path -> the first reading that referenced it
	order  []string
	lines  int        // lines in the file: it is compacted once it holds twice what is kept
	serve  sync.Mutex // one file is sent at a time: the link is shared with readings
	// verified remembers the file last hashed whole, so the windows of
	// one transfer do not hash it again while it stays the same file.
	verified struct {
		sum string
		fi  os.FileInfo
	}
}

// noteEvidence indexes the files a reading references. It runs after the
// reading is in the outbox, so an indexed file always has its reading.
func (b *Box) noteEvidence(r reading.Reading) {
	js, err := json.Marshal(r.Payload)
	if err != nil || !bytes.Contains(js, []byte(`"sha256"`)) {
		return
	}
	for _, ref := range evidence.Refs(js) {
		if !filepath.IsAbs(ref.Path) || filepath.Clean(ref.Path) != ref.Path {
			// Only clean absolute paths are served; anything else could
			// mean something else tomorrow (a working directory, a "..").
			(&output{box: b, dev: r.Device}).Count("evidence_unindexed", 1)
			continue
		}
		if err := b.ev.add(b.cfg.StateDir, evidenceEntry{SHA256: ref.SHA256, Path: ref.Path, Device: r.Device, Seq: r.Seq, Time: time.Now().UTC()}); err != nil {
			b.log.Error("evidence index", "device", r.Device, "seq", r.Seq, "err", err)
		}
	}
}

func (e *evidenceBox) load(stateDir string) {
	if e.loaded {
		return
	}
	e.loaded = true
	e.file = filepath.Join(stateDir, "evidence.jsonl")
	e.byHash = map[string]evidenceEntry{}
	f, err := os.Open(e.file)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		e.lines++
		var en evidenceEntry
		if json.Unmarshal(sc.Bytes(), &en) == nil && evidence.ValidSHA256(en.SHA256) { // a torn last line is skipped
			e.put(en)
		}
	}
}

func evidenceKey(sum, path string) string { return sum + "\x00" + path }

func (e *evidenceBox) put(en evidenceEntry) bool {
	k := evidenceKey(en.SHA256, en.Path)
	if _, ok := e.byHash[k]; ok {
		return false
	}
	e.order = append(e.order, k)
	e.byHash[k] = en
	for len(e.order) > maxIndexed {
		delete(e.byHash, e.order[0])
		e.order = e.order[1:]
	}
	return true
}

func (e *evidenceBox) add(stateDir string, en evidenceEntry) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.load(stateDir)
	if !e.put(en) {
		return nil
	}
	if e.lines >= 2*maxIndexed {
		return e.rewrite()
	}
	line, _ := json.Marshal(en)
	f, err := os.OpenFile(e.file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil {
		return err
	}
	e.lines++
	return f.Sync()
}

// rewrite compacts the index file to what is kept (atomically).
func (e *evidenceBox) rewrite() error {
	var buf bytes.Buffer
	for _, h := range e.order {
		line, _ := json.Marshal(e.byHash[h])
		buf.Write(append(line, '\n'))
	}
	if err := atomicfile.Write(e.file, buf.Bytes(), 0o600); err != nil {
		return err
	}
	e.lines = len(e.order)
	return nil
}

func (e *evidenceBox) lookup(stateDir, sum, path string) (evidenceEntry, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.load(stateDir)
	en, ok := e.byHash[evidenceKey(sum, path)]
	return en, ok
}

// subscribeEvidence listens for the hub's evidence requests on a new session.
func (b *Box) subscribeEvidence(ctx context.Context, c mqtt.Client) error {
	return waitToken(ctx, c.Subscribe(contract.EvidenceRequests(b.cfg.Crossing, b.cfg.Box), 1, b.onEvidenceRequest), connectTimeout)
}

func (b *Box) onEvidenceRequest(c mqtt.Client, m mqtt.Message) {
	b.serveEvidence(m.Payload(), func(ch contract.EvidenceChunk) error {
		js, _ := json.Marshal(ch)
		tok := c.Publish(contract.Evidence(b.cfg.Crossing, b.cfg.Box), 1, false, js)
		if !tok.WaitTimeout(2 * connectTimeout) {
			return errors.New("no PUBACK for an evidence chunk")
		}
		return tok.Error()
	})
}

// serveEvidence answers one request through send: the chunks asked for, or
// one refusal saying why not.
func (b *Box) serveEvidence(payload []byte, send func(contract.EvidenceChunk) error) {
	count := func(what string) { (&output{box: b, dev: "_evidence"}).Count(what, 1) }
	q, err := evidence.DecodeRequest(payload)
	if err != nil {
		count("malformed")
		b.log.Warn("evidence request refused", "err", err)
		if q.ID != "" && evidence.ValidSHA256(q.SHA256) {
			send(evidence.Refusal(q.ID, q.SHA256, contract.EvidenceBadRequest, err.Error()))
		}
		return
	}
	b.ev.serve.Lock()
	defer b.ev.serve.Unlock()
	f, size, code, err := b.openEvidence(q)
	if err != nil {
		count("refused_" + code)
		b.log.Warn("evidence request refused", "id", q.ID, "device", q.Device, "seq", q.Seq, "code", code, "err", err)
		send(evidence.Refusal(q.ID, q.SHA256, code, err.Error()))
		return
	}
	defer f.Close()
	buf := make([]byte, q.ChunkSize)
	off := q.Offset
	for i := 0; i < q.Chunks && off < size; i++ {
		n, err := f.ReadAt(buf[:min(int64(q.ChunkSize), size-off)], off)
		if err != nil && !(errors.Is(err, io.EOF) && n > 0) {
			send(evidence.Refusal(q.ID, q.SHA256, contract.EvidenceUnavailable, "read: "+err.Error()))
			return
		}
		if err := send(evidence.NewChunk(q.ID, q.SHA256, off, size, buf[:n])); err != nil {
			b.log.Warn("evidence chunk not sent; the hub asks again", "id", q.ID, "offset", off, "err", err)
			return
		}
		count("chunks_sent")
		off += int64(n)
	}
	b.log.Info("evidence sent", "id", q.ID, "device", q.Device, "seq", q.Seq, "from", q.Offset, "to", off, "size", size)
}

// openEvidence opens the file a request names, if it may be served: the
// index must hold that hash at that path, the path must be a regular file
// (never a symlink: opened with O_NOFOLLOW and checked to be the file
// looked at), and its content must still have the hash.
func (b *Box) openEvidence(q contract.EvidenceRequest) (*os.File, int64, string, error) {
	en, ok := b.ev.lookup(b.cfg.StateDir, q.SHA256, q.Path)
	if !ok {
		return nil, 0, contract.EvidenceNotReferenced, errors.New("no reading this box took references this file with this SHA-256")
	}
	fi, err := os.Lstat(en.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, contract.EvidenceMissing, errors.New("the file is no longer on the box")
	}
	if err != nil {
		return nil, 0, contract.EvidenceUnavailable, err
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, contract.EvidenceNotRegular, fmt.Errorf("not a regular file (%v): not served", fi.Mode().Type())
	}
	if fi.Size() > evidence.MaxFile {
		return nil, 0, contract.EvidenceTooLarge, fmt.Errorf("%d bytes, more than %d", fi.Size(), evidence.MaxFile)
	}
	f, err := os.OpenFile(en.Path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, contract.EvidenceNotRegular, fmt.Errorf("open: %w", err)
	}
	if ofi, err := f.Stat(); err != nil || !os.SameFile(fi, ofi) || !ofi.Mode().IsRegular() {
		f.Close()
		return nil, 0, contract.EvidenceNotRegular, errors.New("the file was replaced while it was opened")
	}
	if v := b.ev.verified; v.sum == q.SHA256 && os.SameFile(v.fi, fi) && v.fi.Size() == fi.Size() && v.fi.ModTime().Equal(fi.ModTime()) {
		return f, fi.Size(), "", nil
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		f.Close()
		return nil, 0, contract.EvidenceUnavailable, fmt.Errorf("read: %w", err)
	}
	if hex.EncodeToString(h.Sum(nil)) != q.SHA256 {
		f.Close()
		return nil, 0, contract.EvidenceChanged, errors.New("the file changed since the reading: its SHA-256 no longer matches")
	}
	b.ev.verified.sum, b.ev.verified.fi = q.SHA256, fi
	return f, n, "", nil
}
