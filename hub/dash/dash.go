// Package dash is the Border Liaison Office dashboard served by hubd: live
// alerts from every box with their readings, acknowledge and resolve with
// the officer's identity and a note, health of every box and device,
// searchable history, CSV export for IBM i2 (docs/i2-export.md) and a weekly
// summary (docs/screens.md).
//
// Live push is server-sent events. Every alert change is a row of the hub's
// alert log, and the log's sequence number is the event id, so a viewer on a
// lossy link resumes with Last-Event-ID from the store and loses nothing.
package dash

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kordon/kordon/i18n"
	"github.com/kordon/kordon/internal/contract"
)

//go:embed web
var webFS embed.FS

// User is one dashboard log-in, kept in the hub config. The password is
// stored only as a bcrypt hash (`hubd passwd`, reading the secret from standard input).
type User struct {
	User         string `yaml:"user" json:"user"`
	Name         string `yaml:"name" json:"name"` // shown beside what they do
	Role         string `yaml:"role" json:"role"` // officer | supervisor | technician
	PasswordHash string `yaml:"password_hash" json:"-"`
}

// Roles and what they may do (docs/screens.md).
const (
	RoleOfficer    = "officer"
	RoleSupervisor = "supervisor"
	RoleTechnician = "technician"
)

func canAct(role string) bool    { return role == RoleOfficer || role == RoleSupervisor }
func canExport(role string) bool { return role == RoleOfficer || role == RoleSupervisor }

// canCommand: commands move hardware at a booth (CCTV) or change a box.
func canCommand(role string) bool { return role == RoleSupervisor || role == RoleTechnician }

type userKey struct{}

// UserFrom returns the logged-in user a command request came from.
func UserFrom(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey{}).(User)
	return u, ok
}

// command passes a logged-in, authorised request on to the hub's command API.
func (d *Dash) command(w http.ResponseWriter, r *http.Request, s *session) {
	if r.Method == http.MethodPost {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-CSRF-Token")), []byte(s.csrf)) != 1 {
			http.Error(w, "missing or wrong CSRF token", http.StatusForbidden)
			return
		}
		if !canCommand(s.user.Role) {
			http.Error(w, "your role may not command boxes", http.StatusForbidden)
			return
		}
		d.opt.Log.Info("command requested", "user", s.user.User, "box", r.PathValue("box"))
	}
	d.opt.Commands.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, s.user)))
}

// AlertView is an alert with its workflow state.
type AlertView struct {
	contract.Alert
	Repeats      int    `json:"repeats"`
	ClearedAt    string `json:"cleared_at,omitempty"`
	AckBy        string `json:"ack_by,omitempty"`
	AckAt        string `json:"ack_at,omitempty"`
	AckNote      string `json:"ack_note,omitempty"`
	ResolvedBy   string `json:"resolved_by,omitempty"`
	ResolvedAt   string `json:"resolved_at,omitempty"`
	ResolvedNote string `json:"resolved_note,omitempty"`
}

// LogEntry is one change of one alert.
type LogEntry struct {
	Seq     int64                `json:"seq"`
	AlertID string               `json:"alert_id"`
	Action  string               `json:"action"` // raised | acknowledged | resolved | repeated | cleared
	User    string               `json:"user,omitempty"`
	Role    string               `json:"role,omitempty"`
	Note    string               `json:"note,omitempty"`
	Time    time.Time            `json:"time"`
	Ref     *contract.ReadingRef `json:"ref,omitempty"`
}

// Query selects alerts for the history search, the export and the summary.
type Query struct {
	Text     string // in rule, summary, box, device, notes
	Severity string
	State    string
	Box      string
	From, To time.Time // by reading time; zero = open-ended; To exclusive
	Limit    int
}

// Activity is when a device last sent a reading.
type Activity struct {
	Box, Device string
	Last        time.Time
	Count       int64
}

// Errors of Store.Act.
var (
	ErrNotFound   = errors.New("no such alert")
	ErrTransition = errors.New("alert is not in a state that allows this")
)

// Store is what the dashboard needs from the hub's database.
type Store interface {
	SearchAlerts(ctx context.Context, q Query) ([]AlertView, error)
	Alert(ctx context.Context, id string) (AlertView, []LogEntry, error)
	// Act acknowledges or resolves an alert and logs who did it.
	Act(ctx context.Context, id, action string, u User, note string, at time.Time) (LogEntry, error)
	LogSince(ctx context.Context, seq int64, limit int) ([]LogEntry, error)
	LastSeq(ctx context.Context) (int64, error)
	// Readings returns the readings' envelopes with personal data withheld.
	Readings(ctx context.Context, refs []contract.ReadingRef) ([]json.RawMessage, error)
	Activity(ctx context.Context, since time.Time) ([]Activity, error)
	// Boxes returns what the store records of each box (box health).
	Boxes(ctx context.Context) ([]BoxRecord, error)
}

// BoxRecord is what the hub's store knows of one box.
type BoxRecord struct {
	Box          string
	Incarnations []Incarnation    // oldest first
	Refused      map[string]int64 // readings the hub refused, by reason
	LastRefused  time.Time
}

// Incarnation is one life of a box's sequence state.
type Incarnation struct {
	ID        string    `json:"id"`
	FirstSeen time.Time `json:"first_seen"`
}

// Event is one live event from the hub (reading, alert, state, ...).
type Event struct {
	Name string
	Data []byte
}

// Options configure the dashboard.
type Options struct {
	Crossing string
	Users    []User
	Store    Store
	// States returns the latest retained box state and device availability messages.
	States func() [][]byte
	// Subscribe delivers the hub's live events; a slow viewer may miss
	// readings, never alerts (those come from the store by sequence).
	Subscribe func() (<-chan Event, func())
	Rules     func() any
	Log       *slog.Logger
	// SecureCookies marks the session cookie Secure even over plain HTTP
	// (for a hub behind a TLS-terminating proxy). Over TLS it always is.
	SecureCookies bool
	SessionTTL    time.Duration // default 12h (one shift)
	// Commands is the hub's command API (POST /dash/api/boxes/{box}/commands,
	// GET /dash/api/commands/{id}). The dashboard serves it only to
	// logged-in supervisors and technicians (POST with the CSRF token) and
	// hands the caller on in the request context (UserFrom).
	Commands    http.Handler
	DefaultLang string // default "ru"
	// Count is told each refused log-in by reason (login_wrong,
	// login_locked, login_busy, csrf), for the hub's metrics.
	Count func(reason string)
	// Evidence is the hub's evidence API (GET /dash/api/evidence/...), served
	// to logged-in users with the caller in the request context (UserFrom);
	// the hub decides which roles may view (hub/evidence.go).
	Evidence http.Handler
	// BLO is the hub's BLO network API, served under /dash/api/blo/ (blo.go).
	BLO http.Handler
}

// Dash is the dashboard handler, mounted under /dash/.
type Dash struct {
	opt      Options
	users    map[string]User
	sessions *sessions
	guard    *loginGuard
	wake     *waker
}

// New checks the users and builds the dashboard.
func New(opt Options) (*Dash, error) {
	users := map[string]User{}
	for i, u := range opt.Users {
		if u.User == "" || u.PasswordHash == "" {
			return nil, errors.New("users[" + strconv.Itoa(i) + "]: user and password_hash are required")
		}
		switch u.Role {
		case RoleOfficer, RoleSupervisor, RoleTechnician:
		default:
			return nil, errors.New("users[" + strconv.Itoa(i) + "] " + u.User + ": role must be officer, supervisor or technician")
		}
		if _, dup := users[u.User]; dup {
			return nil, errors.New("users[" + strconv.Itoa(i) + "]: user " + u.User + " appears twice")
		}
		if u.Name == "" {
			u.Name = u.User
		}
		users[u.User] = u
	}
	if opt.SessionTTL == 0 {
		opt.SessionTTL = 12 * time.Hour
	}
	if opt.DefaultLang == "" {
		opt.DefaultLang = "ru"
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	return &Dash{opt: opt, users: users, sessions: newSessions(opt.SessionTTL), guard: newLoginGuard(), wake: newWaker()}, nil
}

// Handler serves the dashboard; mount it at "/dash/".
func (d *Dash) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(webFS, "web")
	mux.Handle("GET /dash/static/", http.StripPrefix("/dash/static/", noStore(http.FileServerFS(static))))
	mux.Handle("GET /dash/i18n/", http.StripPrefix("/dash/i18n/", i18n.Handler()))
	mux.Handle("GET /dash/families.js", noStore(http.HandlerFunc(familiesScript)))
	mux.HandleFunc("GET /dash/login", d.loginPage)
	mux.HandleFunc("POST /dash/login", d.login)
	mux.HandleFunc("POST /dash/logout", d.logout)
	mux.HandleFunc("GET /dash/{$}", d.page)
	mux.HandleFunc("GET /dash/api/me", d.auth(d.me))
	mux.HandleFunc("GET /dash/api/alerts", d.auth(d.listAlerts))
	mux.HandleFunc("GET /dash/api/alerts/{id}", d.auth(d.alertDetail))
	mux.HandleFunc("POST /dash/api/alerts/{id}/{action}", d.auth(d.act))
	mux.HandleFunc("POST /dash/api/alert-groups/{action}", d.auth(d.actMany))
	mux.HandleFunc("GET /dash/api/health", d.auth(d.health))
	mux.HandleFunc("GET /dash/api/summary", d.auth(d.summary))
	mux.HandleFunc("GET /dash/api/rules", d.auth(func(w http.ResponseWriter, r *http.Request, _ *session) {
		var v any
		if d.opt.Rules != nil {
			v = d.opt.Rules()
		}
		writeJSON(w, v)
	}))
	mux.HandleFunc("GET /dash/api/families", d.auth(d.families))
	mux.HandleFunc("GET /dash/export.csv", d.auth(d.export))
	if d.opt.Commands != nil {
		mux.HandleFunc("POST /dash/api/boxes/{box}/commands", d.auth(d.command))
		mux.HandleFunc("GET /dash/api/commands/{id}", d.auth(d.command))
	}
	if d.opt.Evidence != nil {
		mux.HandleFunc("GET /dash/api/evidence/", d.auth(d.evidence))
	}
	mux.HandleFunc("GET /dash/events", d.auth(d.events))
	if d.opt.BLO != nil {
		mux.HandleFunc("/dash/api/blo/", d.auth(d.blo))
	}
	// Cross-origin POSTs (a log-in or an action from another site) are
	// refused by their Origin / Sec-Fetch-Site headers, beside the tokens.
	return SecurityHeaders(http.NewCrossOriginProtection().Handler(mux))
}

// SecurityHeaders sets the headers every page of the hub carries: a
// content policy allowing only the hub's own scripts and styles, no
// framing, no MIME sniffing, no referrer; over TLS, HSTS.
func SecurityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}

func noStore(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

func (d *Dash) page(w http.ResponseWriter, r *http.Request) {
	if d.sessions.get(r) == nil {
		http.Redirect(w, r, "/dash/login", http.StatusSeeOther)
		return
	}
	serveFile(w, "web/dash.html")
}

func serveFile(w http.ResponseWriter, name string) {
	b, err := webFS.ReadFile(name)
	if err != nil {
		http.Error(w, "missing page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

func (d *Dash) me(w http.ResponseWriter, r *http.Request, s *session) {
	writeJSON(w, map[string]any{
		"user": s.user.User, "name": s.user.Name, "role": s.user.Role, "csrf": s.csrf,
		"crossing": d.opt.Crossing, "default_lang": d.opt.DefaultLang,
		"can_act": canAct(s.user.Role), "can_export": canExport(s.user.Role), "can_command": canCommand(s.user.Role),
	})
}

func (d *Dash) listAlerts(w http.ResponseWriter, r *http.Request, _ *session) {
	q, err := parseQuery(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// The sequence is read first: events after it are sent on the stream,
	// so nothing falls between this list and the live updates.
	seq, err := d.opt.Store.LastSeq(r.Context())
	if err != nil {
		storeErr(w, d.opt.Log, err)
		return
	}
	alerts, err := d.opt.Store.SearchAlerts(r.Context(), q)
	if err != nil {
		storeErr(w, d.opt.Log, err)
		return
	}
	writeJSON(w, map[string]any{"seq": seq, "alerts": alerts})
}

func parseQuery(r *http.Request) (Query, error) {
	v := r.URL.Query()
	q := Query{Text: strings.TrimSpace(v.Get("q")), Severity: v.Get("severity"), State: v.Get("state"), Box: v.Get("box")}
	var err error
	if q.From, err = parseDay(v.Get("from")); err != nil {
		return q, err
	}
	if q.To, err = parseDay(v.Get("to")); err != nil {
		return q, err
	}
	if !q.To.IsZero() && len(v.Get("to")) == len("2006-01-02") {
		q.To = q.To.AddDate(0, 0, 1) // a day given as "to" is included
	}
	q.Limit, _ = strconv.Atoi(v.Get("limit"))
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 200
	}
	return q, nil
}

// parseDay takes a UTC day (2006-01-02) or an RFC 3339 time.
func parseDay(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, errors.New("bad date " + strconv.Quote(s) + " (want 2006-01-02 or RFC 3339)")
	}
	return t, nil
}

func (d *Dash) alertDetail(w http.ResponseWriter, r *http.Request, _ *session) {
	a, log, err := d.opt.Store.Alert(r.Context(), r.PathValue("id"))
	if errors.Is(err, ErrNotFound) {
		http.Error(w, "no such alert", http.StatusNotFound)
		return
	}
	if err != nil {
		storeErr(w, d.opt.Log, err)
		return
	}
	refs := append([]contract.ReadingRef(nil), a.Readings...)
	for _, e := range log {
		if e.Ref != nil && len(refs) < 50 {
			refs = append(refs, *e.Ref)
		}
	}
	readings, err := d.opt.Store.Readings(r.Context(), refs)
	if err != nil {
		storeErr(w, d.opt.Log, err)
		return
	}
	writeJSON(w, map[string]any{"alert": a, "log": log, "readings": readings})
}

func (d *Dash) act(w http.ResponseWriter, r *http.Request, s *session) {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-CSRF-Token")), []byte(s.csrf)) != 1 {
		http.Error(w, "missing or wrong CSRF token", http.StatusForbidden)
		return
	}
	if !canAct(s.user.Role) {
		http.Error(w, "your role may not change alerts", http.StatusForbidden)
		return
	}
	action := map[string]string{"ack": "acknowledged", "resolve": "resolved"}[r.PathValue("action")]
	if action == "" {
		http.Error(w, "unknown action (ack, resolve)", http.StatusNotFound)
		return
	}
	var body struct {
		Note string `json:"note"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<10)).Decode(&body); err != nil {
		http.Error(w, "body must be JSON {\"note\": \"...\"} under 8 KiB", http.StatusBadRequest)
		return
	}
	body.Note = strings.TrimSpace(body.Note)
	if action == "resolved" && body.Note == "" {
		http.Error(w, "a note is required to resolve", http.StatusBadRequest)
		return
	}
	e, err := d.opt.Store.Act(r.Context(), r.PathValue("id"), action, s.user, body.Note, time.Now())
	switch {
	case errors.Is(err, ErrNotFound):
		http.Error(w, "no such alert", http.StatusNotFound)
		return
	case errors.Is(err, ErrTransition):
		http.Error(w, err.Error(), http.StatusConflict)
		return
	case err != nil:
		storeErr(w, d.opt.Log, err)
		return
	}
	// Identity and alert id only: notes may quote what a traveller carried.
	d.opt.Log.Info("alert "+action, "id", e.AlertID, "user", s.user.User, "role", s.user.Role)
	d.wake.wake()
	writeJSON(w, e)
}

// maxBulk bounds one bulk acknowledgement: a looping fault raises a few
// hundred alerts in a shift, not thousands.
const maxBulk = 500

// actMany acknowledges or resolves several alerts with one note (a group
// of alerts one rule raised again and again at one device). Each alert is
// acted on and logged on its own; the answer lists what became of each, and
// an alert already past the state (someone else acknowledged it) is no error.
func (d *Dash) actMany(w http.ResponseWriter, r *http.Request, s *session) {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-CSRF-Token")), []byte(s.csrf)) != 1 {
		http.Error(w, "missing or wrong CSRF token", http.StatusForbidden)
		return
	}
	if !canAct(s.user.Role) {
		http.Error(w, "your role may not change alerts", http.StatusForbidden)
		return
	}
	action := map[string]string{"ack": "acknowledged", "resolve": "resolved"}[r.PathValue("action")]
	if action == "" {
		http.Error(w, "unknown action (ack, resolve)", http.StatusNotFound)
		return
	}
	var body struct {
		IDs  []string `json:"ids"`
		Note string   `json:"note"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil || len(body.IDs) == 0 || len(body.IDs) > maxBulk {
		http.Error(w, "body must be JSON {\"ids\": [...], \"note\": \"...\"} with 1 to 500 ids, under 64 KiB", http.StatusBadRequest)
		return
	}
	body.Note = strings.TrimSpace(body.Note)
	if action == "resolved" && body.Note == "" {
		http.Error(w, "a note is required to resolve", http.StatusBadRequest)
		return
	}
	out := map[string]string{}
	now := time.Now()
	for _, id := range body.IDs {
		_, err := d.opt.Store.Act(r.Context(), id, action, s.user, body.Note, now)
		switch {
		case err == nil:
			out[id] = action
		case errors.Is(err, ErrNotFound):
			out[id] = "not_found"
		case errors.Is(err, ErrTransition):
			out[id] = "unchanged"
		default:
			storeErr(w, d.opt.Log, err)
			return
		}
	}
	d.opt.Log.Info("alerts "+action, "count", len(body.IDs), "user", s.user.User, "role", s.user.Role)
	d.wake.wake()
	writeJSON(w, map[string]any{"results": out})
}

func storeErr(w http.ResponseWriter, log *slog.Logger, err error) {
	log.Error("dashboard store", "err", err)
	http.Error(w, "store unavailable", http.StatusServiceUnavailable)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}
