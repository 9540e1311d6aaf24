package hub

// The hub's seam to the BLO network (package blo, docs/blo-network.md).
// The engine gets what each transaction committed (alerts and alert log
// entries) as an after-commit subscriber (hub/events); it reads the alert
// log through bloSource only to catch up at start-up and after a skipped
// entry, and readings for an alert's subjects. The dashboard reaches it
// under /dash/api/blo/ (hub/dash/blo.go).

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/kordon/kordon/blo"
	"github.com/kordon/kordon/hub/dash"
	"github.com/kordon/kordon/hub/events"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/sqltime"
)

// startBLO starts the BLO engine when the config has a blo section.
func (h *Hub) startBLO() error {
	if h.cfg.BLO == nil {
		return nil
	}
	e, err := blo.Start(h.cfg.Crossing, h.cfg.BLO, h.cfg.DataDir, filepath.Join(h.cfg.DataDir, "hub.db"), bloSource{h.store.db, h.auth.redact}, h.log)
	if err != nil {
		return err
	}
	e.OnIncoming = func(sh blo.Share) {
		js, _ := json.Marshal(sh)
		h.live.send(event{Name: "blo-incoming", Data: js})
	}
	// Stored before it runs: from now on every commit reaches it, and what
	// was committed before is in the log it reads first.
	h.blo.Store(e)
	if err := e.Run(); err != nil {
		h.blo.Store(nil)
		e.Close()
		return err
	}
	events, cancel := h.live.subscribe()
	e.Health(h.ingest.snapshot())
	go func() {
		defer cancel()
		for ev := range events {
			switch ev.Name {
			case "state", "availability":
				e.Health([][]byte{ev.Data})
			}
		}
	}()
	return nil
}

// bloSubscriber hands the engine what each transaction committed. Before
// the engine runs (or without a blo section) it drops the batch: the
// engine reads what it missed from the alert log when it starts.
type bloSubscriber struct{ h *Hub }

func (s bloSubscriber) Committed(b *events.Batch) {
	e := s.h.blo.Load()
	if e == nil || len(b.Changes) == 0 {
		return
	}
	log := make([]blo.Transition, len(b.Changes))
	for i, c := range b.Changes {
		log[i] = blo.Transition{Seq: c.Seq, AlertID: c.AlertID, Action: c.Action, User: c.User, Role: c.Role, Note: c.Note, Time: c.Time}
	}
	e.Committed(b.Alerts, log)
}

func (h *Hub) stopBLO() {
	if e := h.blo.Load(); e != nil {
		e.Close()
	}
}

// BLO is the hub's BLO engine, or nil.
func (h *Hub) BLO() *blo.Engine { return h.blo.Load() }

// bloSource reads the hub's tables for the engine. Each query reads its
// rows fully before the next: the hub's database has one connection.
type bloSource struct {
	db     *sql.DB
	redact *redactor // the stored envelopes go out naming every field the schema marks personal
}

func (s bloSource) TransitionsAfter(ctx context.Context, seq int64, limit int) ([]blo.Transition, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, alert_id, action, user, role, note, time FROM alert_log WHERE seq > ? ORDER BY seq LIMIT ?`, seq, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []blo.Transition
	for rows.Next() {
		var t blo.Transition
		var at string
		if err := rows.Scan(&t.Seq, &t.AlertID, &t.Action, &t.User, &t.Role, &t.Note, &at); err != nil {
			return nil, err
		}
		t.Time, _ = sqltime.Parse(at)
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s bloSource) Alert(ctx context.Context, id string) (contract.Alert, error) {
	var a contract.Alert
	var body string
	err := s.db.QueryRowContext(ctx, `SELECT body FROM alerts WHERE id = ?`, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("alert %s: %w (%w)", id, blo.ErrNoAlert, dash.ErrNotFound)
	}
	if err != nil {
		return a, err
	}
	return a, json.Unmarshal([]byte(body), &a)
}

// Readings are the stored envelopes the refs name, each of its own box
// life: two lives of a re-provisioned box reuse sequence numbers.
func (s bloSource) Readings(ctx context.Context, refs []contract.ReadingRef) ([][]byte, error) {
	var out [][]byte
	for _, r := range refs {
		var body string
		err := s.db.QueryRowContext(ctx, `SELECT body FROM readings WHERE box = ? AND incarnation = ? AND device = ? AND seq = ?`, r.Box, r.Incarnation, r.Device, r.Seq).Scan(&body)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s.redact.declared([]byte(body)))
	}
	return out, nil
}

// bloCountsSQL counts each kind's readings received in [?1, ?2): a range
// of readings_kind per kind, the kinds found by stepping from one to the
// next in that index (SQLite has no skip scan without statistics), so a few
// seeks per kind whatever the table's size.
const bloCountsSQL = `WITH RECURSIVE k(kind) AS (
		SELECT MIN(kind) FROM readings
		UNION ALL SELECT (SELECT MIN(kind) FROM readings WHERE kind > k.kind) FROM k WHERE k.kind IS NOT NULL)
	SELECT k.kind, (SELECT COUNT(*) FROM readings r WHERE r.kind = k.kind AND r.received >= ?1 AND r.received < ?2)
	FROM k WHERE k.kind IS NOT NULL`

func (s bloSource) Counts(ctx context.Context, from, to time.Time) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, bloCountsSQL,
		sqltime.Format(from), sqltime.Format(to))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, err
		}
		if n > 0 { // kinds with no reading in the range are not reported
			out[k] = n
		}
	}
	return out, rows.Err()
}

// bloAPI is the dashboard's BLO network API, served behind the
// dashboard's log-in (and, for POST, its CSRF token and a role that may
// act on alerts): hub/dash/blo.go.
func (h *Hub) bloAPI() http.Handler {
	if h.cfg.BLO == nil {
		return nil
	}
	mux := http.NewServeMux()
	engine := func(w http.ResponseWriter) *blo.Engine {
		e := h.blo.Load()
		if e == nil {
			http.Error(w, "the BLO network is not running", http.StatusServiceUnavailable)
		}
		return e
	}
	mux.HandleFunc("GET /dash/api/blo/status", func(w http.ResponseWriter, r *http.Request) {
		if e := engine(w); e != nil {
			writeJSON(w, map[string]any{"crossing": h.cfg.Crossing, "links": e.Links(), "neighbours": e.Neighbours()})
		}
	})
	mux.HandleFunc("GET /dash/api/blo/incoming", func(w http.ResponseWriter, r *http.Request) {
		if e := engine(w); e != nil {
			in, err := e.Incoming(r.Context(), limitParam(r))
			if err != nil {
				http.Error(w, "store unavailable", http.StatusServiceUnavailable)
				return
			}
			writeJSON(w, in)
		}
	})
	mux.HandleFunc("POST /dash/api/blo/incoming/{id}/{status}", func(w http.ResponseWriter, r *http.Request) {
		e := engine(w)
		u, _ := dash.UserFrom(r.Context())
		if e == nil {
			return
		}
		var err error
		switch r.PathValue("status") {
		case blo.Seen:
			err = e.MarkSeen(r.PathValue("id"), u.User)
		case blo.Acknowledged:
			err = e.Acknowledge(r.PathValue("id"), u.User)
		default:
			http.Error(w, "status must be seen or acknowledged", http.StatusBadRequest)
			return
		}
		if errors.Is(err, blo.ErrNoIncoming) {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, map[string]string{"status": r.PathValue("status")})
	})
	mux.HandleFunc("GET /dash/api/blo/alerts/{id}/shares", func(w http.ResponseWriter, r *http.Request) {
		if e := engine(w); e != nil {
			s, err := e.Sent(r.Context(), r.PathValue("id"))
			if err != nil {
				http.Error(w, "store unavailable", http.StatusServiceUnavailable)
				return
			}
			writeJSON(w, s)
		}
	})
	mux.HandleFunc("POST /dash/api/blo/alerts/{id}/share", func(w http.ResponseWriter, r *http.Request) {
		e := engine(w)
		if e == nil {
			return
		}
		u, _ := dash.UserFrom(r.Context())
		var req struct{ To, Note, Handling string }
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<10)).Decode(&req); err != nil {
			http.Error(w, "body must be JSON {to, note, handling}", http.StatusBadRequest)
			return
		}
		sh, err := e.Share(r.Context(), r.PathValue("id"), req.To, u.User, req.Note, req.Handling)
		switch {
		case errors.Is(err, dash.ErrNotFound):
			http.Error(w, "no such alert", http.StatusNotFound)
		case errors.Is(err, blo.ErrNoNeighbour), errors.Is(err, blo.ErrNotSharable), errors.Is(err, blo.ErrHandling):
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		case err != nil:
			h.log.Warn("share", "err", err)
			http.Error(w, "share failed", http.StatusServiceUnavailable)
		default:
			writeJSON(w, sh)
		}
	})
	mux.HandleFunc("GET /dash/api/blo/audit", func(w http.ResponseWriter, r *http.Request) {
		if e := engine(w); e != nil {
			after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
			a, err := e.Audit(r.Context(), after, limitParam(r))
			if err != nil {
				http.Error(w, "store unavailable", http.StatusServiceUnavailable)
				return
			}
			writeJSON(w, a)
		}
	})
	return mux
}
