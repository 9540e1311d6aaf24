package centre

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// User is a centre dashboard log-in with one role.
type User struct {
	User         string `yaml:"user"`
	Name         string `yaml:"name"`
	Role         string `yaml:"role"` // analyst | supervisor
	PasswordHash string `yaml:"password_hash"`
}

// The centre's roles. The analyst works on the intelligence picture:
// search (by subject too: pseudonymous document keys, containers), the
// i2 export and the weekly reports. The supervisor (the duty officer)
// watches the network live: every crossing's link, health and open
// alerts. Both see the trends, which are counts only. The server refuses
// (403) a page of the other role; the menu only hides it.
const (
	RoleAnalyst    = "analyst"
	RoleSupervisor = "supervisor"
)

// landing is each role's first page.
var landing = map[string]string{RoleAnalyst: "/search", RoleSupervisor: "/live"}

// Web is the centre dashboard: every crossing on one page (links, health,
// live alerts), trends as server-rendered SVG, search, the i2 export and
// the weekly reports. Every page needs a log-in and the page's role;
// nothing is served without.
type Web struct {
	c     *Centre
	users map[string]User
	log   *slog.Logger
	mu    sync.Mutex
	sess  map[string]session
}

type session struct {
	user    User
	csrf    string
	expires time.Time
}

// NewWeb checks the users.
func NewWeb(c *Centre, users []User, log *slog.Logger) (*Web, error) {
	m := map[string]User{}
	for i, u := range users {
		if u.User == "" || u.PasswordHash == "" || (u.Role != RoleAnalyst && u.Role != RoleSupervisor) {
			return nil, fmt.Errorf("users[%d]: user, password_hash and role (analyst or supervisor) are required", i)
		}
		if u.Name == "" {
			u.Name = u.User
		}
		m[u.User] = u
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Web{c: c, users: m, log: log, sess: map[string]session{}}, nil
}

func token() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Handler serves the dashboard.
func (w *Web) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", w.loginPage)
	mux.HandleFunc("POST /login", w.login)
	both, analyst, supervisor := []string{RoleAnalyst, RoleSupervisor}, []string{RoleAnalyst}, []string{RoleSupervisor}
	mux.HandleFunc("POST /logout", w.auth(both, w.logout))
	mux.HandleFunc("GET /{$}", w.auth(both, func(rw http.ResponseWriter, r *http.Request, s session) {
		http.Redirect(rw, r, landing[s.user.Role], http.StatusSeeOther)
	}))
	mux.HandleFunc("GET /live", w.auth(supervisor, w.overview))
	mux.HandleFunc("GET /api/crossings", w.auth(supervisor, func(rw http.ResponseWriter, r *http.Request, _ session) { writeJSON(rw, w.c.Stats()) }))
	mux.HandleFunc("GET /trends", w.auth(both, w.trends))
	mux.HandleFunc("GET /search", w.auth(analyst, w.search))
	mux.HandleFunc("GET /export/i2/entities.csv", w.auth(analyst, w.i2(true)))
	mux.HandleFunc("GET /export/i2/links.csv", w.auth(analyst, w.i2(false)))
	mux.HandleFunc("GET /reports", w.auth(analyst, w.reports))
	mux.HandleFunc("GET /reports/{file}", w.auth(analyst, w.report))
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, r *http.Request) { rw.Write([]byte("ok\n")) })
	return headers(mux)
}

func headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// auth serves f to a logged-in user whose role is one of roles.
func (w *Web) auth(roles []string, f func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("kordon_centre")
		w.mu.Lock()
		s, ok := session{}, false
		if err == nil {
			s, ok = w.sess[c.Value]
		}
		w.mu.Unlock()
		if !ok || time.Now().After(s.expires) {
			if strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/export/") {
				http.Error(rw, "log in first", http.StatusUnauthorized)
				return
			}
			http.Redirect(rw, r, "/login", http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost && subtle.ConstantTimeCompare([]byte(r.FormValue("csrf")), []byte(s.csrf)) != 1 {
			http.Error(rw, "missing or wrong CSRF token", http.StatusForbidden)
			return
		}
		if !slices.Contains(roles, s.user.Role) {
			w.log.Warn("centre page refused to role", "user", s.user.User, "role", s.user.Role, "path", r.URL.Path)
			http.Error(rw, words[lang(rw, r)]["forbidden"], http.StatusForbidden)
			return
		}
		f(rw, r, s)
	}
}

// lang is the page language: ?lang=, then the cookie, then Russian.
func lang(rw http.ResponseWriter, r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == "en" || l == "ru" {
		http.SetCookie(rw, &http.Cookie{Name: "lang", Value: l, Path: "/", SameSite: http.SameSiteStrictMode})
		return l
	}
	if c, err := r.Cookie("lang"); err == nil && (c.Value == "en" || c.Value == "ru") {
		return c.Value
	}
	return "ru"
}

var words = map[string]map[string]string{
	"en": {"title": "Coordination centre", "crossings": "Crossings", "link": "Link", "up": "up", "down": "down", "taken": "Messages",
		"pending": "Pending at centre", "hublag": "Waiting at hub", "health": "Boxes online", "alerts": "Live alerts", "trends": "Trends",
		"search": "Search", "reports": "Weekly reports", "export": "i2 export", "login": "Log in", "logout": "Log out", "user": "User",
		"password": "Password", "time": "Raised", "crossing": "Crossing", "rule": "Rule", "severity": "Severity", "state": "State",
		"summary": "Summary", "perday": "Alerts per day, per crossing and rule", "find": "Find", "entities": "entities", "links": "links",
		"from": "From", "to": "To", "bad": "Wrong user or password", "forbidden": "This page is not for your role.", "live": "Live"},
	"ru": {"title": "Координационный центр", "crossings": "Пункты пропуска", "link": "Связь", "up": "есть", "down": "нет", "taken": "Сообщений",
		"pending": "Ждут в центре", "hublag": "Ждут на пункте", "health": "Боксов в сети", "alerts": "Тревоги сейчас", "trends": "Динамика",
		"search": "Поиск", "reports": "Еженедельные отчёты", "export": "Экспорт i2", "login": "Войти", "logout": "Выйти", "user": "Пользователь",
		"password": "Пароль", "time": "Время", "crossing": "Пункт", "rule": "Правило", "severity": "Важность", "state": "Состояние",
		"summary": "Описание", "perday": "Тревоги по дням, по пунктам и правилам", "find": "Найти", "entities": "сущности", "links": "связи",
		"from": "С", "to": "По", "bad": "Неверный пользователь или пароль", "forbidden": "Эта страница не для вашей роли.", "live": "Сейчас"},
}

var page = template.Must(template.New("page").Parse(`<!doctype html><html lang="{{.Lang}}"><meta charset="utf-8">
{{if .Refresh}}<meta http-equiv="refresh" content="5">{{end}}
<title>Kordon — {{index .W "title"}}</title>
<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:2px 6px}
.up{color:#070}.down{color:#b00;font-weight:bold}nav a{margin-right:1em}.critical{background:#fcc}.high{background:#fec}</style>
<nav><b>Kordon — {{index .W "title"}}</b> {{if eq .Role "supervisor"}}<a href="/live" id="nav-live">{{index .W "crossings"}}</a>{{end}}<a href="/trends">{{index .W "trends"}}</a>
{{if eq .Role "analyst"}}<a href="/search" id="nav-search">{{index .W "search"}}</a><a href="/reports" id="nav-reports">{{index .W "reports"}}</a>{{end}}
<a href="?lang=ru">RU</a><a href="?lang=en">EN</a> <span id="who">{{.User}}</span>
<form method="post" action="/logout" style="display:inline"><input type="hidden" name="csrf" value="{{.CSRF}}"><button>{{index .W "logout"}}</button></form></nav>
{{.Body}}</html>`))

func (w *Web) render(rw http.ResponseWriter, r *http.Request, s session, refresh bool, body func(l string, W map[string]string) template.HTML) {
	l := lang(rw, r)
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	page.Execute(rw, map[string]any{"Lang": l, "W": words[l], "User": s.user.Name, "Role": s.user.Role, "CSRF": s.csrf, "Refresh": refresh, "Body": body(l, words[l])})
}

func exec(t *template.Template, v any) template.HTML {
	var b strings.Builder
	if err := t.Execute(&b, v); err != nil {
		return template.HTML(template.HTMLEscapeString(err.Error()))
	}
	return template.HTML(b.String())
}

var loginTmpl = template.Must(template.New("l").Parse(`<!doctype html><html lang="{{.Lang}}"><meta charset="utf-8"><title>Kordon</title>
<h1>Kordon — {{index .W "title"}}</h1>{{if .Bad}}<p style="color:#b00">{{index .W "bad"}}</p>{{end}}
<form method="post" action="/login"><label>{{index .W "user"}} <input name="user" autocomplete="username"></label>
<label>{{index .W "password"}} <input name="password" type="password" autocomplete="current-password"></label>
<button>{{index .W "login"}}</button></form><p><a href="?lang=ru">RU</a> <a href="?lang=en">EN</a></p></html>`))

func (w *Web) loginPage(rw http.ResponseWriter, r *http.Request) {
	l := lang(rw, r)
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	loginTmpl.Execute(rw, map[string]any{"Lang": l, "W": words[l], "Bad": r.URL.Query().Get("bad") != ""})
}

func (w *Web) login(rw http.ResponseWriter, r *http.Request) {
	u, ok := w.users[r.FormValue("user")]
	if !ok || bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(r.FormValue("password"))) != nil {
		w.log.Warn("centre log-in refused")
		http.Redirect(rw, r, "/login?bad=1", http.StatusSeeOther)
		return
	}
	t := token()
	w.mu.Lock()
	w.sess[t] = session{user: u, csrf: token(), expires: time.Now().Add(12 * time.Hour)}
	w.mu.Unlock()
	http.SetCookie(rw, &http.Cookie{Name: "kordon_centre", Value: t, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	w.log.Info("centre log-in", "user", u.User)
	http.Redirect(rw, r, "/", http.StatusSeeOther)
}

func (w *Web) logout(rw http.ResponseWriter, r *http.Request, _ session) {
	if c, err := r.Cookie("kordon_centre"); err == nil {
		w.mu.Lock()
		delete(w.sess, c.Value)
		w.mu.Unlock()
	}
	http.Redirect(rw, r, "/login", http.StatusSeeOther)
}

type alertRow struct {
	ID, Crossing, Rule, Severity, State, Summary string
	Raised                                       time.Time
}

func (w *Web) alerts(ctx context.Context, where string, args ...any) ([]alertRow, error) {
	rows, err := w.c.db.pool.Query(ctx, `SELECT id, crossing, rule, severity, state, summary, raised FROM alerts `+where+` ORDER BY raised DESC LIMIT 200`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []alertRow
	for rows.Next() {
		var a alertRow
		if err := rows.Scan(&a.ID, &a.Crossing, &a.Rule, &a.Severity, &a.State, &a.Summary, &a.Raised); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

var overviewTmpl = template.Must(template.New("o").Parse(`<h2>{{index .W "crossings"}}</h2>
<table><tr><th>{{index .W "crossing"}}</th><th>{{index .W "link"}}</th><th>{{index .W "health"}}</th><th>{{index .W "taken"}}</th>
<th>{{index .W "pending"}}</th><th>{{index .W "hublag"}}</th></tr>
{{range .Stats}}<tr><td>{{.Crossing}}</td><td class="{{if .LinkUp}}up{{else}}down{{end}}">{{if .LinkUp}}{{index $.W "up"}}{{else}}{{index $.W "down"}}{{end}}</td>
<td>{{index $.Health .Crossing}}</td><td>{{.Taken}}</td><td>{{.Pending}}</td><td>{{.HubLag}}</td></tr>{{end}}</table>
<h2>{{index .W "alerts"}}</h2>{{template "alerts" .}}`))

var alertsTmpl = template.Must(overviewTmpl.New("alerts").Parse(`<table><tr><th>{{index .W "time"}}</th><th>{{index .W "crossing"}}</th>
<th>{{index .W "rule"}}</th><th>{{index .W "severity"}}</th><th>{{index .W "state"}}</th><th>{{index .W "summary"}}</th><th>id</th></tr>
{{range .Alerts}}<tr class="{{.Severity}}"><td>{{.Raised.UTC.Format "2006-01-02 15:04:05"}}</td><td>{{.Crossing}}</td><td>{{.Rule}}</td>
<td>{{.Severity}}</td><td>{{.State}}</td><td>{{.Summary}}</td><td>{{.ID}}</td></tr>{{end}}</table>`))

func (w *Web) overview(rw http.ResponseWriter, r *http.Request, s session) {
	alerts, err := w.alerts(r.Context(), `WHERE state <> 'resolved'`)
	if err != nil {
		http.Error(rw, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	health := map[string]string{}
	rows, err := w.c.db.pool.Query(r.Context(), `SELECT crossing, count(*) FILTER (WHERE state = 'online'), count(*) FROM health WHERE device = '' GROUP BY crossing`)
	if err == nil {
		for rows.Next() {
			var x string
			var on, all int
			rows.Scan(&x, &on, &all)
			health[x] = fmt.Sprintf("%d / %d", on, all)
		}
		rows.Close()
	}
	w.render(rw, r, s, true, func(l string, W map[string]string) template.HTML {
		return exec(overviewTmpl, map[string]any{"W": W, "Stats": w.c.Stats(), "Alerts": alerts, "Health": health})
	})
}

func (w *Web) search(rw http.ResponseWriter, r *http.Request, s session) {
	q := r.URL.Query()
	var where []string
	var args []any
	arg := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if t := q.Get("q"); t != "" {
		args = append(args, "%"+t+"%", t)
		where = append(where, fmt.Sprintf("(summary ILIKE $%d OR rule ILIKE $%d OR id = $%d)", len(args)-1, len(args)-1, len(args)))
	}
	for _, col := range []string{"crossing", "rule", "severity", "state"} {
		if v := q.Get(col); v != "" {
			arg(col+" = ?", v)
		}
	}
	if v := q.Get("subject"); v != "" {
		arg(`id IN (SELECT alert_id FROM subjects WHERE value = ?)`, v)
	}
	if d, err := time.Parse("2006-01-02", q.Get("from")); err == nil {
		arg("raised >= ?", d)
	}
	if d, err := time.Parse("2006-01-02", q.Get("to")); err == nil {
		arg("raised < ?", d.AddDate(0, 0, 1))
	}
	w2 := ""
	if len(where) > 0 {
		w2 = "WHERE " + strings.Join(where, " AND ")
	}
	alerts, err := w.alerts(r.Context(), w2, args...)
	if err != nil {
		http.Error(rw, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	w.render(rw, r, s, false, func(l string, W map[string]string) template.HTML {
		return exec(searchTmpl, map[string]any{"W": W, "Q": q, "Alerts": alerts})
	})
}

var searchTmpl = template.Must(template.Must(alertsTmpl.Clone()).New("s").Parse(`<h2>{{index .W "search"}}</h2>
<form><input name="q" value="{{.Q.Get "q"}}" placeholder="text, id"> <input name="crossing" value="{{.Q.Get "crossing"}}" placeholder="{{index .W "crossing"}}">
<input name="rule" value="{{.Q.Get "rule"}}" placeholder="{{index .W "rule"}}"> <input name="subject" value="{{.Q.Get "subject"}}" placeholder="container, substance, key">
{{index .W "from"}} <input name="from" type="date" value="{{.Q.Get "from"}}"> {{index .W "to"}} <input name="to" type="date" value="{{.Q.Get "to"}}">
<button>{{index .W "find"}}</button></form>
<p>{{index .W "export"}}: <a href="/export/i2/entities.csv?from={{.Q.Get "from"}}&amp;to={{.Q.Get "to"}}">{{index .W "entities"}}</a>,
<a href="/export/i2/links.csv?from={{.Q.Get "from"}}&amp;to={{.Q.Get "to"}}">{{index .W "links"}}</a></p>{{template "alerts" .}}`))

func (w *Web) i2(entities bool) func(http.ResponseWriter, *http.Request, session) {
	return func(rw http.ResponseWriter, r *http.Request, s session) {
		from, err := time.Parse("2006-01-02", r.URL.Query().Get("from"))
		if err != nil {
			from = time.Now().UTC().AddDate(0, 0, -7).Truncate(24 * time.Hour)
		}
		to, err := time.Parse("2006-01-02", r.URL.Query().Get("to"))
		if err != nil {
			to = time.Now().UTC()
		} else {
			to = to.AddDate(0, 0, 1)
		}
		name := "links"
		if entities {
			name = "entities"
		}
		rw.Header().Set("Content-Type", "text/csv; charset=utf-8")
		rw.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="kordon-i2-%s-%s.csv"`, name, from.Format("20060102")))
		w.log.Info("i2 export", "user", s.user.User, "table", name)
		if entities {
			err = w.c.db.I2Entities(r.Context(), rw, from, to)
		} else {
			err = w.c.db.I2Links(r.Context(), rw, from, to)
		}
		if err != nil {
			w.log.Warn("i2 export", "err", err)
		}
	}
}

func (w *Web) reports(rw http.ResponseWriter, r *http.Request, s session) {
	weeks, err := w.c.db.Reports(r.Context())
	if err != nil {
		http.Error(rw, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	var names []string
	for _, wk := range weeks {
		names = append(names, fmtWeek(wk))
	}
	w.render(rw, r, s, false, func(l string, W map[string]string) template.HTML {
		return exec(template.Must(template.New("r").Parse(`<h2>{{index .W "reports"}}</h2><ul>{{range .Weeks}}<li>{{.}}:
<a href="/reports/{{.}}.html">HTML</a> <a href="/reports/{{.}}.csv">CSV</a></li>{{end}}</ul>`)), map[string]any{"W": W, "Weeks": names})
	})
}

func (w *Web) report(rw http.ResponseWriter, r *http.Request, s session) {
	file := r.PathValue("file")
	base, format, ok := strings.Cut(file, ".")
	week, err := time.Parse("2006-01-02", base)
	if !ok || err != nil || (format != "html" && format != "csv") {
		http.NotFound(rw, r)
		return
	}
	b, err := w.c.db.Report(r.Context(), week, format)
	if err != nil {
		http.NotFound(rw, r)
		return
	}
	if format == "csv" {
		rw.Header().Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	}
	rw.Write(b)
}

// trends draws alerts per day per crossing and rule as SVG bars, one row
// of small multiples per crossing, server-side (no script on the page).
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (w *Web) trends(rw http.ResponseWriter, r *http.Request, s session) {
	days, _ := strconv.Atoi(r.URL.Query().Get("days"))
	if days <= 0 || days > 90 {
		days = 14
	}
	since := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -days+1)
	rows, err := w.c.db.pool.Query(r.Context(), `SELECT crossing, rule, date_trunc('day', raised AT TIME ZONE 'UTC'), count(*) FROM alerts
		WHERE raised >= $1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, since)
	if err != nil {
		http.Error(rw, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	type key struct{ x, rule string }
	counts := map[key][]int{}
	max := 1
	for rows.Next() {
		var x, rule string
		var day time.Time
		var n int
		rows.Scan(&x, &rule, &day, &n)
		k := key{x, rule}
		if counts[k] == nil {
			counts[k] = make([]int, days)
		}
		if i := int(day.Sub(since).Hours() / 24); i >= 0 && i < days {
			counts[k][i] = n
			if n > max {
				max = n
			}
		}
	}
	rows.Close()
	var keys []key
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].x < keys[j].x || keys[i].x == keys[j].x && keys[i].rule < keys[j].rule
	})
	var b strings.Builder
	const bw, ch = 14, 60
	for _, k := range keys {
		fmt.Fprintf(&b, `<div><b>%s</b> — %s<br><svg width="%d" height="%d" role="img" aria-label="%s %s">`,
			template.HTMLEscapeString(k.x), template.HTMLEscapeString(k.rule), days*bw+40, ch+16, template.HTMLEscapeString(k.x), template.HTMLEscapeString(k.rule))
		for i, n := range counts[k] {
			h := n * ch / max
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#369"><title>%s: %d</title></rect>`,
				i*bw, ch-h, bw-2, h, since.AddDate(0, 0, i).Format("2006-01-02"), n)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10">max %d</text></svg></div>`, days*bw+2, 10, max)
	}
	w.render(rw, r, s, false, func(l string, W map[string]string) template.HTML {
		return template.HTML("<h2>" + template.HTMLEscapeString(W["perday"]) + fmt.Sprintf(" (%d)</h2>", days) + b.String())
	})
}
