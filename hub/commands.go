package hub

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kordon/kordon/drivers"
	"github.com/kordon/kordon/hub/dash"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/sqltime"
)

// Commands from the hub to a box (docs/commands.md): the hub publishes a
// command through its in-process client (only it may write a box's commands
// topic, hub/auth.go), stores it, and stores the box's reply when it comes
// back on the replies topic (ingest.go).

// commandsSQL is the commands table (part of schemaSQL, store.go).
const commandsSQL = `
CREATE TABLE IF NOT EXISTS commands (
	id       TEXT PRIMARY KEY,
	box      TEXT NOT NULL,
	name     TEXT NOT NULL,
	sent     TEXT NOT NULL,
	expires  TEXT NOT NULL,
	by       TEXT NOT NULL DEFAULT '',
	body     TEXT NOT NULL, -- the command as published
	reply    TEXT,          -- the box's reply, once it came
	replied  TEXT
);
CREATE INDEX IF NOT EXISTS commands_sent ON commands(sent);
`

// Command defaults and bounds.
const (
	defaultCommandTTL = 30 * time.Second
	maxCommandTTL     = time.Hour
	maxCommandWait    = 30 * time.Second
)

// boxCommands are the commands every box answers (edge/commands.go).
var boxCommands = []string{"ping", "reload-config", "resend"}

// apiCommand says whether the HTTP API may send a command: the box's own,
// or one a device family declares (family.yaml commands:, e.g. cctv-trigger).
// The box refuses unknown names anyway; the list keeps the API from being
// a free-form channel to every box.
func apiCommand(name string) (bool, error) {
	if slices.Contains(boxCommands, name) {
		return true, nil
	}
	fams, err := drivers.Families()
	if err != nil {
		return false, err
	}
	for _, f := range fams {
		for _, c := range f.Commands {
			if c.Name == name {
				return true, nil
			}
		}
	}
	return false, nil
}

var argKey = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Errors of SendCommand.
var (
	ErrUnknownBox = errors.New("unknown box")
	ErrBadCommand = errors.New("bad command")
)

// CommandRecord is a command sent to a box and what became of it.
type CommandRecord struct {
	ID      string            `json:"id"`
	Box     string            `json:"box"`
	Name    string            `json:"name"`
	Args    map[string]string `json:"args,omitempty"`
	Sent    time.Time         `json:"sent"`
	Expires time.Time         `json:"expires"`
	By      string            `json:"by,omitempty"` // who asked: a dashboard user, or "api"
	// Status is pending (no reply yet), ok, failed (the box said why in
	// reply.error) or expired (no reply before the expiry: the box was
	// offline, or refused it as expired).
	Status  string          `json:"status"`
	Reply   *contract.Reply `json:"reply,omitempty"`
	Replied *time.Time      `json:"replied,omitempty"`
}

// CommandRequest is the body of POST /api/boxes/{box}/commands.
type CommandRequest struct {
	Name      string            `json:"name"`
	Args      map[string]string `json:"args,omitempty"`
	ExpiresIn string            `json:"expires_in,omitempty"` // Go duration; default 30s, at most 1h
}

// commandTracker wakes the callers waiting for a reply.
type commandTracker struct {
	mu      sync.Mutex
	waiters map[string][]chan struct{}

	sent, replies, orphans atomic.Int64
}

func (t *commandTracker) wait(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	t.mu.Lock()
	if t.waiters == nil {
		t.waiters = map[string][]chan struct{}{}
	}
	t.waiters[id] = append(t.waiters[id], ch)
	t.mu.Unlock()
	return ch, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		ws := t.waiters[id]
		for i, w := range ws {
			if w == ch {
				t.waiters[id] = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(t.waiters[id]) == 0 {
			delete(t.waiters, id)
		}
	}
}

func (t *commandTracker) wake(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ch := range t.waiters[id] {
		close(ch)
	}
	delete(t.waiters, id)
}

// SendCommand stores a command for a box and publishes it. by names who
// asked (kept with the command, never sent to the box).
func (h *Hub) SendCommand(box, name string, args map[string]string, ttl time.Duration, by string) (CommandRecord, error) {
	if _, ok := h.auth.boxes[box]; !ok {
		return CommandRecord{}, fmt.Errorf("%w %q", ErrUnknownBox, box)
	}
	if ok, err := apiCommand(name); err != nil {
		return CommandRecord{}, err
	} else if !ok {
		return CommandRecord{}, fmt.Errorf("%w: unknown name %q", ErrBadCommand, name)
	}
	if len(args) > 16 {
		return CommandRecord{}, fmt.Errorf("%w: more than 16 args", ErrBadCommand)
	}
	for k, v := range args {
		if !argKey.MatchString(k) || len(v) > 256 {
			return CommandRecord{}, fmt.Errorf("%w: arg %q: keys are lower-case words, values up to 256 bytes", ErrBadCommand, k)
		}
	}
	if ttl == 0 {
		ttl = defaultCommandTTL
	}
	if ttl < time.Second || ttl > maxCommandTTL {
		return CommandRecord{}, fmt.Errorf("%w: expiry must be between 1s and %v", ErrBadCommand, maxCommandTTL)
	}
	now := time.Now().UTC()
	cmd := contract.Command{Schema: contract.CommandV1, ID: "cmd-" + rand.Text(), Name: name, Args: args, Expires: now.Add(ttl)}
	body, err := json.Marshal(cmd)
	if err != nil {
		return CommandRecord{}, err
	}
	// Stored before it is sent: a reply can never find no row.
	_, err = h.store.db.Exec(`INSERT INTO commands(id, box, name, sent, expires, by, body) VALUES (?,?,?,?,?,?,?)`,
		cmd.ID, box, name, sqltime.Format(now), sqltime.Format(cmd.Expires), by, string(body))
	if err != nil {
		return CommandRecord{}, fmt.Errorf("store command: %w", err)
	}
	if err := h.broker.Publish(contract.Commands(h.cfg.Crossing, box), body, false, 1); err != nil {
		return CommandRecord{}, fmt.Errorf("publish command: %w", err)
	}
	h.cmds.sent.Add(1)
	h.log.Info("command sent", "id", cmd.ID, "box", box, "name", name, "by", by)
	rec := CommandRecord{ID: cmd.ID, Box: box, Name: name, Args: args, Sent: now, Expires: cmd.Expires, By: by, Status: "pending"}
	if js, err := json.Marshal(rec); err == nil {
		h.live.send(event{Name: "command", Data: js})
	}
	return rec, nil
}

// Command returns a command and its reply; ok is false for an unknown id.
func (h *Hub) Command(ctx context.Context, id string) (rec CommandRecord, ok bool, err error) {
	var sent, expires, body string
	var reply, replied sql.NullString
	err = h.store.db.QueryRowContext(ctx, `SELECT box, sent, expires, by, body, reply, replied FROM commands WHERE id = ?`, id).
		Scan(&rec.Box, &sent, &expires, &rec.By, &body, &reply, &replied)
	if errors.Is(err, sql.ErrNoRows) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, err
	}
	var cmd contract.Command
	if err := json.Unmarshal([]byte(body), &cmd); err != nil {
		return rec, false, fmt.Errorf("stored command %s: %w", id, err)
	}
	rec.ID, rec.Name, rec.Args, rec.Expires = cmd.ID, cmd.Name, cmd.Args, cmd.Expires
	rec.Sent, _ = sqltime.Parse(sent)
	rec.Status = "pending"
	if reply.Valid {
		var r contract.Reply
		if json.Unmarshal([]byte(reply.String), &r) == nil {
			rec.Reply = &r
			rec.Status = "failed"
			if r.OK {
				rec.Status = "ok"
			}
		}
		if t, err := sqltime.Parse(replied.String); err == nil {
			rec.Replied = &t
		}
	} else if time.Now().After(rec.Expires) {
		rec.Status = "expired"
	}
	return rec, true, nil
}

// takeReply stores a box's reply to one of the hub's commands. Only the box
// a command went to can answer it; a second reply (a redelivered command
// answered again) leaves the first in place.
func (h *Hub) takeReply(box string, body []byte) {
	var r contract.Reply
	if err := json.Unmarshal(body, &r); err != nil || r.ID == "" {
		h.cmds.orphans.Add(1)
		return
	}
	res, err := h.store.db.Exec(`UPDATE commands SET reply = ?, replied = ? WHERE id = ? AND box = ? AND reply IS NULL`,
		string(body), sqltime.Format(time.Now()), r.ID, box)
	if err != nil {
		h.log.Error("store command reply", "id", r.ID, "box", box, "err", err)
		return
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// Not ours (resend requests are gaps.go's), or answered already.
		h.cmds.orphans.Add(1)
		return
	}
	h.cmds.replies.Add(1)
	h.log.Info("command reply", "id", r.ID, "box", box, "name", r.Name, "ok", r.OK, "error", r.Error)
	h.cmds.wake(r.ID)
	if rec, ok, err := h.Command(context.Background(), r.ID); err == nil && ok {
		if js, err := json.Marshal(rec); err == nil {
			h.live.send(event{Name: "reply", Data: js})
		}
	}
}

// WaitCommand waits until a command has its reply or has expired, or ctx
// ends, and returns it as it then stands.
func (h *Hub) WaitCommand(ctx context.Context, id string) (CommandRecord, bool, error) {
	ch, cancel := h.cmds.wait(id)
	defer cancel()
	rec, ok, err := h.Command(ctx, id)
	if err != nil || !ok || rec.Status != "pending" {
		return rec, ok, err
	}
	expiry := time.NewTimer(time.Until(rec.Expires))
	defer expiry.Stop()
	select {
	case <-ch:
	case <-expiry.C:
	case <-ctx.Done():
	}
	return h.Command(context.Background(), id)
}

// commandAPI is the command API. The dashboard (hub/dash) serves it to
// logged-in supervisors and technicians, with the CSRF token on POST:
//
//	POST /dash/api/boxes/{box}/commands[?wait=10s]  {"name": ..., "args": {...}, "expires_in": "30s"}
//	GET  /dash/api/commands/{id}[?wait=10s]
//
// With wait, the answer comes once the box has replied (or the command
// expired, or the wait ran out); without, at once. A POST whose command is
// still pending answers 202, otherwise 200.
func (h *Hub) commandAPI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /dash/api/boxes/{box}/commands", func(w http.ResponseWriter, r *http.Request) {
		// A JSON body only: a cross-site form cannot send one without a
		// CORS preflight, which this API never grants.
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			commandError(w, http.StatusUnsupportedMediaType, "send application/json")
			return
		}
		wait, err := waitParam(r)
		if err != nil {
			commandError(w, http.StatusBadRequest, err.Error())
			return
		}
		var req CommandRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			commandError(w, http.StatusBadRequest, "body: "+err.Error())
			return
		}
		var ttl time.Duration
		if req.ExpiresIn != "" {
			if ttl, err = time.ParseDuration(req.ExpiresIn); err != nil {
				commandError(w, http.StatusBadRequest, "expires_in: "+err.Error())
				return
			}
		}
		by := "api"
		if u, ok := dash.UserFrom(r.Context()); ok {
			by = u.User
		}
		rec, err := h.SendCommand(r.PathValue("box"), req.Name, req.Args, ttl, by)
		switch {
		case errors.Is(err, ErrUnknownBox):
			commandError(w, http.StatusNotFound, err.Error())
			return
		case errors.Is(err, ErrBadCommand):
			commandError(w, http.StatusBadRequest, err.Error())
			return
		case err != nil:
			h.log.Error("command", "err", err)
			commandError(w, http.StatusServiceUnavailable, "command not sent")
			return
		}
		h.answerCommand(w, r, rec.ID, wait, http.StatusAccepted)
	})
	mux.HandleFunc("GET /dash/api/commands/{id}", func(w http.ResponseWriter, r *http.Request) {
		wait, err := waitParam(r)
		if err != nil {
			commandError(w, http.StatusBadRequest, err.Error())
			return
		}
		h.answerCommand(w, r, r.PathValue("id"), wait, http.StatusOK)
	})
	return mux
}

func waitParam(r *http.Request) (time.Duration, error) {
	s := r.URL.Query().Get("wait")
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > maxCommandWait {
		return 0, fmt.Errorf("wait: a duration up to %v", maxCommandWait)
	}
	return d, nil
}

func (h *Hub) answerCommand(w http.ResponseWriter, r *http.Request, id string, wait time.Duration, pending int) {
	var rec CommandRecord
	var ok bool
	var err error
	if wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		defer cancel()
		rec, ok, err = h.WaitCommand(ctx, id)
	} else {
		rec, ok, err = h.Command(r.Context(), id)
	}
	switch {
	case err != nil:
		h.log.Error("command lookup", "id", id, "err", err)
		commandError(w, http.StatusServiceUnavailable, "store unavailable")
		return
	case !ok:
		commandError(w, http.StatusNotFound, "no such command")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if rec.Status == "pending" {
		w.WriteHeader(pending)
	}
	json.NewEncoder(w).Encode(rec)
}

func commandError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
