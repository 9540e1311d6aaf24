package hub

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kordon/kordon/hub/dash"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/evidence"
	"github.com/kordon/kordon/internal/sqltime"
)

// Evidence on request (docs/mqtt.md "Evidence files", docs/screens.md): a
// dashboard user asks for a file a reading references; the hub serves it
// from its content-addressed store (data_dir/evidence/<sha256>) or fetches
// it from the box over the box's own MQTT link, in chunks it verifies one
// by one and as a whole against the reading's SHA-256. Every access, and
// every refusal, is logged in the evidence_access table.

// EvidenceConfig is the evidence section of the hub config.
type EvidenceConfig struct {
	// Roles are the dashboard roles that may view evidence (default
	// officer, supervisor, technician).
	Roles []string `yaml:"roles"`
	// ChunkTimeout is how long the hub waits for the next chunk before it
	// asks the box again from where it stopped (default 5s).
	ChunkTimeout time.Duration `yaml:"chunk_timeout"`
	// FetchTimeout bounds one fetch from a box (default 2m); a fetch cut
	// off resumes from its partial file next time.
	FetchTimeout time.Duration `yaml:"fetch_timeout"`
	// MaxBytes is the largest file fetched (default 256 MiB).
	MaxBytes int64 `yaml:"max_bytes"`
	// Wait is how long a dashboard request waits for a fetch (default 30s);
	// the fetch goes on, and asking again joins it or finds the file stored.
	Wait time.Duration `yaml:"wait"`
}

// evidenceWindow is how many chunks one request asks for: enough to keep
// the link busy, few enough that a box never has much in flight.
const evidenceWindow = 8

// maxRendered bounds the DICOM files turned into pictures: the library holds
// every pixel of every frame as its own slice, about 32 bytes a pixel.
const maxRendered = 32 << 20

const evidenceSQL = `
CREATE TABLE IF NOT EXISTS evidence_access (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	time    TEXT NOT NULL,
	user    TEXT NOT NULL,
	role    TEXT NOT NULL,
	box     TEXT NOT NULL,
	device  TEXT NOT NULL,
	seq     INTEGER NOT NULL,
	pointer TEXT NOT NULL,
	sha256  TEXT NOT NULL,
	action  TEXT NOT NULL, -- view | download | fetch (the hub's own; list only when denied)
	outcome TEXT NOT NULL, -- store | box | denied | refused:<code> | failed
	detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS evidence_access_time ON evidence_access(time);
`

type evidenceHub struct {
	hub     *Hub
	cfg     EvidenceConfig
	store   *evidence.Store
	chunk   int
	maxData int

	mu        sync.Mutex
	transfers map[string]*transfer // by transfer id
	flights   map[string]*flight   // by sha256: one fetch of a file at a time

	ctx     context.Context // the hub's life: transfers end with it
	stop    context.CancelFunc
	running sync.WaitGroup
	render  sync.Mutex // one picture rendered at a time: a DICOM frame is big in memory

	fromStore, fromBox, refused, badChunks, stray, asked atomic.Int64
}

type transfer struct {
	box string
	in  chan arrival
}

type arrival struct {
	c   contract.EvidenceChunk
	err error // the chunk did not verify
}

type flight struct {
	done chan struct{}
	err  error
}

// startEvidence opens the evidence store and access log and adds the
// broker hook that takes the boxes' chunks. It is added before the ingest
// hook: chunks are consumed here and never reach other hooks or subscribers.
func (h *Hub) startEvidence(maxPayload int) error {
	cfg := h.cfg.Evidence
	if len(cfg.Roles) == 0 {
		cfg.Roles = []string{dash.RoleOfficer, dash.RoleSupervisor, dash.RoleTechnician}
	}
	if cfg.ChunkTimeout <= 0 {
		cfg.ChunkTimeout = 5 * time.Second
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = 2 * time.Minute
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 256 << 20
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 30 * time.Second
	}
	st, err := evidence.OpenStore(filepath.Join(h.cfg.DataDir, "evidence"))
	if err != nil {
		return fmt.Errorf("evidence store: %w", err)
	}
	if _, err := h.store.db.Exec(evidenceSQL); err != nil {
		return fmt.Errorf("hub db: evidence_access: %w", err)
	}
	chunk := evidence.ChunkSize(maxPayload)
	h.evidence = &evidenceHub{hub: h, cfg: cfg, store: st, chunk: chunk, maxData: chunk,
		transfers: map[string]*transfer{}, flights: map[string]*flight{}}
	h.evidence.ctx, h.evidence.stop = context.WithCancel(context.Background())
	return h.broker.AddHook(&evidenceHook{ev: h.evidence}, nil)
}

// evidenceHook takes chunks inside the broker's publish path.
type evidenceHook struct {
	mqtt.HookBase
	ev *evidenceHub
}

func (k *evidenceHook) ID() string               { return "kordon-evidence" }
func (k *evidenceHook) Provides(b byte) bool     { return b == mqtt.OnPublish }
func (k *evidenceHook) isEvidence(t string) bool { return strings.HasSuffix(t, "/evidence") }

func (k *evidenceHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || !k.isEvidence(pk.TopicName) {
		return pk, nil
	}
	box := string(cl.Properties.Username)
	t, ok := contract.Parse(pk.TopicName)
	if !ok || t.Box != box || t.Leaf != "evidence" {
		k.ev.stray.Add(1)
		return pk, packets.CodeSuccessIgnore
	}
	c, err := evidence.DecodeChunk(pk.Payload, k.ev.maxData)
	k.ev.mu.Lock()
	tr := k.ev.transfers[c.ID]
	k.ev.mu.Unlock()
	if tr == nil || tr.box != box {
		k.ev.stray.Add(1) // a late chunk of a finished transfer, or not ours
		return pk, packets.CodeSuccessIgnore
	}
	if err != nil {
		k.ev.badChunks.Add(1)
		k.ev.hub.log.Warn("evidence chunk refused", "box", box, "id", c.ID, "err", err)
	}
	select {
	case tr.in <- arrival{c: c, err: err}:
	default: // the transfer asks again from where it is
	}
	// Acknowledged, and never passed on: evidence is for the hub alone.
	return pk, packets.CodeSuccessIgnore
}

// refusedError is a box's refusal to send a file.
type refusedError struct{ code, msg string }

func (e *refusedError) Error() string { return "the box refused: " + e.code + ": " + e.msg }

var errUnverified = errors.New("the chunk stream from the box did not verify")

// fetch makes sure the file of ref is in the store; source says whether it
// was there already ("store") or came from the box ("box").
func (e *evidenceHub) fetch(ctx context.Context, box, device string, seq uint64, ref evidence.Ref) (string, error) {
	if e.store.Has(ref.SHA256) {
		e.fromStore.Add(1)
		return "store", nil
	}
	e.mu.Lock()
	f, ok := e.flights[ref.SHA256]
	if !ok {
		if e.ctx.Err() != nil {
			e.mu.Unlock()
			return "", errors.New("the hub is stopping")
		}
		// The transfer outlives the request that started it: a viewer who
		// gives up (or a wait that runs out) does not waste what came.
		f = &flight{done: make(chan struct{})}
		e.flights[ref.SHA256] = f
		e.running.Add(1)
		go func() {
			defer e.running.Done()
			tctx, cancel := context.WithTimeout(e.ctx, e.cfg.FetchTimeout)
			f.err = e.transfer(tctx, box, device, seq, ref)
			cancel()
			if f.err == nil {
				e.fromBox.Add(1)
			}
			e.mu.Lock()
			delete(e.flights, ref.SHA256)
			e.mu.Unlock()
			close(f.done)
		}()
	}
	e.mu.Unlock()
	wait := time.NewTimer(e.cfg.Wait)
	defer wait.Stop()
	select {
	case <-f.done:
		return "box", f.err
	case <-wait.C:
		return "", errStillFetching
	case <-ctx.Done():
		return "", errStillFetching
	}
}

var errStillFetching = errors.New("still fetching the file from the box; ask again in a moment")

// stopEvidence ends the transfers under way (Hub.Close), before the store closes.
func (h *Hub) stopEvidence() {
	h.evidence.stop()
	h.evidence.running.Wait()
}

// transfer asks the box for the file window by window, from the end of the
// partial file each time: a window cut off by a dropped link is simply
// asked for again once the box is back.
func (e *evidenceHub) transfer(ctx context.Context, box, device string, seq uint64, ref evidence.Ref) error {
	p, err := e.store.Begin(ref.SHA256)
	if err != nil {
		return err
	}
	finished := false
	defer func() {
		if !finished {
			p.Close()
		}
	}()
	id := "ev-" + rand.Text()
	tr := &transfer{box: box, in: make(chan arrival, 2*evidenceWindow)}
	e.mu.Lock()
	e.transfers[id] = tr
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.transfers, id)
		e.mu.Unlock()
	}()
	size := ref.Size
	if size <= 0 {
		size = -1 // learnt from the first chunk
	}
	topic := contract.EvidenceRequests(e.hub.cfg.Crossing, box)
	bad := 0
	for {
		if size > 0 && p.Len() >= size {
			if p.Len() > size {
				p.Discard()
				finished = true
				return errUnverified
			}
			_, err := p.Finish()
			finished = true
			if errors.Is(err, evidence.ErrMismatch) {
				return errUnverified
			}
			return err
		}
		q := contract.EvidenceRequest{Schema: contract.EvidenceRequestV1, ID: id, Device: device, Seq: seq,
			Path: ref.Path, SHA256: ref.SHA256, Offset: p.Len(), ChunkSize: e.chunk, Chunks: evidenceWindow}
		body, _ := json.Marshal(q)
		if err := e.hub.broker.Publish(topic, body, false, 1); err != nil {
			return fmt.Errorf("publish evidence request: %w", err)
		}
		e.asked.Add(1)
		timer := time.NewTimer(e.cfg.ChunkTimeout)
	window:
		for got := 0; got < evidenceWindow; {
			select {
			case a := <-tr.in:
				switch c := a.c; {
				case a.err != nil:
					if bad++; bad >= 3 {
						timer.Stop()
						return fmt.Errorf("%w: %v", errUnverified, a.err)
					}
					break window // ask again from the last good chunk
				case c.Code != "":
					timer.Stop()
					e.refused.Add(1)
					if c.Code == contract.EvidenceChanged {
						p.Discard()
						finished = true
					}
					return &refusedError{code: c.Code, msg: c.Error}
				case c.SHA256 != ref.SHA256 || (size > 0 && c.Size != size):
					timer.Stop()
					p.Discard()
					finished = true
					return fmt.Errorf("%w: a chunk of another file", errUnverified)
				case c.Size > e.cfg.MaxBytes:
					timer.Stop()
					return fmt.Errorf("the file is %d bytes, more than the hub's evidence.max_bytes %d", c.Size, e.cfg.MaxBytes)
				case c.Offset < p.Len():
					continue // a repeat of what is written
				case c.Offset > p.Len():
					break window // a gap: ask again from the end
				default:
					size = c.Size
					if err := p.Write(c); err != nil {
						timer.Stop()
						return err
					}
					got++
					if p.Len() >= size {
						break window
					}
					timer.Reset(e.cfg.ChunkTimeout)
				}
			case <-timer.C:
				e.hub.log.Warn("evidence: no chunk from the box; asking again", "box", box, "sha256", ref.SHA256, "have", p.Len())
				break window
			case <-ctx.Done():
				timer.Stop()
				return fmt.Errorf("fetch from box %s: %w (have %d bytes; the next fetch resumes there)", box, ctx.Err(), p.Len())
			}
		}
		timer.Stop()
	}
}

// logAccess records who did what with which evidence, and how it went.
func (e *evidenceHub) logAccess(u dash.User, box, device string, seq uint64, ref evidence.Ref, action, outcome, detail string) {
	_, err := e.hub.store.db.Exec(`INSERT INTO evidence_access(time, user, role, box, device, seq, pointer, sha256, action, outcome, detail) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
		sqltime.Format(time.Now()), u.User, u.Role, box, device, seq, ref.Pointer, ref.SHA256, action, outcome, detail)
	if err != nil {
		e.hub.log.Error("evidence access log", "err", err)
	}
	e.hub.log.Info("evidence access", "user", u.User, "role", u.Role, "box", box, "device", device, "seq", seq,
		"ref", ref.Pointer, "sha256", ref.SHA256, "action", action, "outcome", outcome)
}

// EvidenceAccess is one row of the access log.
type EvidenceAccess struct {
	Time    time.Time `json:"time"`
	User    string    `json:"user"`
	Role    string    `json:"role"`
	Box     string    `json:"box"`
	Device  string    `json:"device"`
	Seq     uint64    `json:"seq"`
	Pointer string    `json:"pointer"`
	SHA256  string    `json:"sha256"`
	Action  string    `json:"action"`
	Outcome string    `json:"outcome"`
	Detail  string    `json:"detail,omitempty"`
}

// EvidenceLog returns the newest access log entries, newest first.
func (h *Hub) EvidenceLog(ctx context.Context, limit int) ([]EvidenceAccess, error) {
	rows, err := h.store.db.QueryContext(ctx, `SELECT time, user, role, box, device, seq, pointer, sha256, action, outcome, detail FROM evidence_access ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []EvidenceAccess{}
	for rows.Next() {
		var a EvidenceAccess
		var t string
		if err := rows.Scan(&t, &a.User, &a.Role, &a.Box, &a.Device, &a.Seq, &a.Pointer, &a.SHA256, &a.Action, &a.Outcome, &a.Detail); err != nil {
			return nil, err
		}
		a.Time, _ = sqltime.Parse(t)
		out = append(out, a)
	}
	return out, rows.Err()
}

// EvidenceCounters are the evidence totals (/api/counters has the rest).
type EvidenceCounters struct {
	FromStore int64 `json:"from_store"` // requests served from the hub's store
	FromBox   int64 `json:"from_box"`   // files fetched from a box
	Refused   int64 `json:"refused"`    // refusals from boxes
	BadChunks int64 `json:"bad_chunks"` // chunks that did not verify
	Stray     int64 `json:"stray"`      // chunks of no current transfer
	Requests  int64 `json:"requests"`   // windows asked of boxes
}

// EvidenceCounters returns a snapshot.
func (h *Hub) EvidenceCounters() EvidenceCounters {
	e := h.evidence
	return EvidenceCounters{FromStore: e.fromStore.Load(), FromBox: e.fromBox.Load(), Refused: e.refused.Load(),
		BadChunks: e.badChunks.Load(), Stray: e.stray.Load(), Requests: e.asked.Load()}
}

var pointerRe = regexp.MustCompile(`^(/[A-Za-z0-9_~.-]{1,64}){1,8}$`)

// evidenceAPI serves, behind the dashboard's log-in (hub/dash):
//
//	GET /dash/api/evidence/{box}/{device}/{seq}           the files the reading references
//	GET /dash/api/evidence/{box}/{device}/{seq}/file?ref=/images/0&as=png|file
//	  (either with &incarnation=: the reading of that box life; without, the newest life's)
//	GET /dash/api/evidence/log                            the access log (supervisors)
func (h *Hub) evidenceAPI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dash/api/evidence/log", func(w http.ResponseWriter, r *http.Request) {
		u, _ := dash.UserFrom(r.Context())
		if u.Role != dash.RoleSupervisor {
			http.Error(w, "only supervisors read the evidence access log", http.StatusForbidden)
			return
		}
		rows, err := h.EvidenceLog(r.Context(), limitParam(r))
		if err != nil {
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, rows)
	})
	mux.HandleFunc("GET /dash/api/evidence/{box}/{device}/{seq}", func(w http.ResponseWriter, r *http.Request) {
		h.serveEvidence(w, r, "list")
	})
	mux.HandleFunc("GET /dash/api/evidence/{box}/{device}/{seq}/file", func(w http.ResponseWriter, r *http.Request) {
		action := "download"
		if r.URL.Query().Get("as") == "png" {
			action = "view"
		}
		h.serveEvidence(w, r, action)
	})
	return mux
}

// EvidenceFile is one file a reading references, as the dashboard lists it.
type EvidenceFile struct {
	evidence.Ref
	Name   string `json:"name"`   // the file's base name on the box
	Stored bool   `json:"stored"` // already at the hub
}

func (h *Hub) serveEvidence(w http.ResponseWriter, r *http.Request, action string) {
	e := h.evidence
	u, _ := dash.UserFrom(r.Context())
	box, device := r.PathValue("box"), r.PathValue("device")
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil {
		http.Error(w, "seq must be a number", http.StatusBadRequest)
		return
	}
	var ref evidence.Ref
	if action != "list" {
		ref.Pointer = r.URL.Query().Get("ref")
		if !pointerRe.MatchString(ref.Pointer) {
			http.Error(w, "ref must be a JSON pointer such as /images/0", http.StatusBadRequest)
			return
		}
	}
	if !e.allowed(u.Role) {
		e.logAccess(u, box, device, seq, ref, action, "denied", "role")
		http.Error(w, "your role may not view evidence", http.StatusForbidden)
		return
	}
	var life *string // the reading's box life, when the page knows it
	if q := r.URL.Query(); q.Has("incarnation") {
		inc := q.Get("incarnation")
		life = &inc
	}
	payload, found, err := h.readingPayload(r.Context(), box, device, seq, life)
	if err != nil {
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	if !found {
		http.Error(w, "no such reading", http.StatusNotFound)
		return
	}
	if action == "list" {
		files := []EvidenceFile{}
		for _, rf := range evidence.Refs(payload) {
			files = append(files, EvidenceFile{Ref: rf, Name: filepath.Base(rf.Path), Stored: e.store.Has(rf.SHA256)})
		}
		writeJSON(w, files)
		return
	}
	at, ok := evidence.Find(payload, ref.Pointer)
	if !ok {
		http.Error(w, "the reading references no file at "+ref.Pointer, http.StatusNotFound)
		return
	}
	ref = at
	source, err := e.fetch(r.Context(), box, device, seq, ref)
	if err != nil {
		var re *refusedError
		code, outcome := http.StatusGatewayTimeout, "failed"
		switch {
		case errors.As(err, &re):
			code, outcome = http.StatusConflict, "refused:"+re.code
			if re.code == contract.EvidenceMissing {
				code = http.StatusGone
			}
		case errors.Is(err, errUnverified):
			code, outcome = http.StatusBadGateway, "unverified"
		case errors.Is(err, errStillFetching):
			code, outcome = http.StatusServiceUnavailable, "pending"
			w.Header().Set("Retry-After", "5")
		}
		e.logAccess(u, box, device, seq, ref, action, outcome, err.Error())
		writeEvidenceError(w, code, err)
		return
	}
	path := e.store.Path(ref.SHA256)
	if action == "view" {
		png, err := e.png(ref.SHA256)
		if err != nil {
			e.logAccess(u, box, device, seq, ref, action, source, "not rendered: "+err.Error())
			writeEvidenceError(w, http.StatusUnsupportedMediaType, fmt.Errorf("no picture: %w", err))
			return
		}
		path = png
		w.Header().Set("Content-Type", "image/png")
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="`+safeName(filepath.Base(ref.Path))+`"`)
	}
	f, err := os.Open(path)
	if err != nil {
		http.Error(w, "evidence store unavailable", http.StatusServiceUnavailable)
		return
	}
	defer f.Close()
	e.logAccess(u, box, device, seq, ref, action, source, "")
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("X-Evidence-Source", source)
	w.Header().Set("X-Evidence-SHA256", ref.SHA256)
	http.ServeContent(w, r, "", time.Time{}, f)
}

func (e *evidenceHub) allowed(role string) bool {
	for _, r := range e.cfg.Roles {
		if r == role && role != "" {
			return true
		}
	}
	return false
}

// png returns the path of the file's picture, rendering it once.
func (e *evidenceHub) png(sum string) (string, error) {
	dst := e.store.Path(sum) + ".png"
	e.render.Lock()
	defer e.render.Unlock()
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	if fi, err := os.Stat(e.store.Path(sum)); err != nil || fi.Size() > maxRendered {
		return "", fmt.Errorf("larger than %d MiB: download it instead", maxRendered>>20)
	}
	b, err := renderDICOM(e.store.Path(sum))
	if err != nil {
		return "", err
	}
	tmp := dst + ".tmp-" + rand.Text()
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return "", err
	}
	return dst, os.Rename(tmp, dst)
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == '"' || r == '\\' || r > 0x7e {
			return '_'
		}
		return r
	}, s)
}

func writeEvidenceError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// EvidencePath is where the hub stores the file with this SHA-256
// (data_dir/evidence/<sha256>), whether or not it is there yet.
func (h *Hub) EvidencePath(sum string) string { return h.evidence.store.Path(sum) }

var mEvidence = prometheus.NewDesc("kordon_hub_evidence_total",
	"Evidence requests and chunks: from_store, from_box, refused (by boxes), bad_chunks, stray (chunks of no transfer), requests (windows asked).",
	[]string{"what"}, nil)

type evidenceCollector struct{ h *Hub }

func (c evidenceCollector) Describe(ch chan<- *prometheus.Desc) { ch <- mEvidence }

func (c evidenceCollector) Collect(ch chan<- prometheus.Metric) {
	e := c.h.EvidenceCounters()
	for what, v := range map[string]int64{"from_store": e.FromStore, "from_box": e.FromBox, "refused": e.Refused,
		"bad_chunks": e.BadChunks, "stray": e.Stray, "requests": e.Requests} {
		ch <- prometheus.MustNewConstMetric(mEvidence, prometheus.CounterValue, float64(v), what)
	}
}

// readingPayload is the payload of a stored reading (personal data
// withheld): of box life *life, or with life nil of the box's newest life
// that has one with this number (a re-provisioned box numbers again from 1).
func (h *Hub) readingPayload(ctx context.Context, box, device string, seq uint64, life *string) (json.RawMessage, bool, error) {
	var body string
	var err error
	if life != nil {
		err = h.store.rd.QueryRowContext(ctx, `SELECT body FROM readings WHERE box = ? AND incarnation = ? AND device = ? AND seq = ?`, box, *life, device, seq).Scan(&body)
	} else {
		err = h.store.rd.QueryRowContext(ctx, `SELECT body FROM readings WHERE box = ? AND device = ? AND seq = ? ORDER BY id DESC LIMIT 1`, box, device, seq).Scan(&body)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var env struct {
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(h.auth.redact.envelope([]byte(body)), &env); err != nil {
		return nil, false, fmt.Errorf("stored reading %s/%s/%d: %w", box, device, seq, err)
	}
	return env.Payload, true, nil
}

// FetchEvidence makes sure the file at pointer (e.g. "/images/0") of reading
// (box, device, seq) is in the hub's store, fetching it from the box if need
// be, and returns where it is. It is the hub's own way in (automation, a
// prefetch on alarm): logged as user "hub", waiting up to evidence.wait.
func (h *Hub) FetchEvidence(ctx context.Context, box, device string, seq uint64, pointer string) (string, error) {
	payload, found, err := h.readingPayload(ctx, box, device, seq, nil)
	if err != nil {
		return "", err
	}
	if !found {
		return "", fmt.Errorf("no reading %s/%s/%d", box, device, seq)
	}
	ref, ok := evidence.Find(payload, pointer)
	if !ok {
		return "", fmt.Errorf("reading %s/%s/%d references no file at %s", box, device, seq, pointer)
	}
	source, err := h.evidence.fetch(ctx, box, device, seq, ref)
	outcome, detail := source, ""
	if err != nil {
		outcome, detail = "failed", err.Error()
	}
	h.evidence.logAccess(dash.User{User: "hub", Role: "hub"}, box, device, seq, ref, "fetch", outcome, detail)
	if err != nil {
		return "", err
	}
	return h.evidence.store.Path(ref.SHA256), nil
}
