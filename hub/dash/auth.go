package dash

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"time"
)

const cookieName = "kordon_session"

// session is one logged-in viewer. Sessions live in the hub's memory: the
// cookie carries only a random token, so a session can be ended at once
// and a restart of hubd logs everyone out (they log in again).
type session struct {
	user    User
	csrf    string
	expires time.Time
}

type sessions struct {
	mu  sync.Mutex
	ttl time.Duration
	m   map[string]*session
}

func newSessions(ttl time.Duration) *sessions {
	return &sessions{ttl: ttl, m: map[string]*session{}}
}

func token() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *sessions) create(u User) (string, *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for k, v := range s.m { // drop expired sessions as new ones come
		if now.After(v.expires) {
			delete(s.m, k)
		}
	}
	t := token()
	ss := &session{user: u, csrf: token(), expires: now.Add(s.ttl)}
	s.m[t] = ss
	return t, ss
}

func (s *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[c.Value]
	if ss == nil || time.Now().After(ss.expires) {
		delete(s.m, c.Value)
		return nil
	}
	return ss
}

func (s *sessions) end(r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		s.mu.Lock()
		delete(s.m, c.Value)
		s.mu.Unlock()
	}
}

const loginCookie = "kordon_login" // the log-in form's CSRF token

// loginPage serves the form with a fresh CSRF token, held in a cookie
// only this site's pages send and in a hidden field only this site's page
// carries: a log-in posted from another site has no token.
func (d *Dash) loginPage(w http.ResponseWriter, r *http.Request) {
	b, err := webFS.ReadFile("web/login.html")
	if err != nil {
		http.Error(w, "missing page", http.StatusInternalServerError)
		return
	}
	t := token()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: t, Path: "/dash/login", HttpOnly: true,
		Secure: r.TLS != nil || d.opt.SecureCookies, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	b = bytes.Replace(b, []byte("{{csrf}}"), []byte(t), 1)
	b = bytes.Replace(b, []byte(`lang="ru"`), []byte(`lang="`+d.opt.DefaultLang+`"`), 1) // the crossing's language first
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

func (d *Dash) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	name, pw := r.PostFormValue("user"), r.PostFormValue("password")
	lang := r.PostFormValue("lang")
	back := "/dash/login?error=1"
	if lang != "" {
		back += "&lang=" + url.QueryEscape(lang)
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		d.count("csrf")
		http.Error(w, "log-in form expired: reload the page", http.StatusForbidden)
		return
	}
	u, res := d.guard.check(hostOf(r.RemoteAddr), name, pw, d.users)
	if res != checkOK {
		d.count(res.String())
		d.opt.Log.Warn("dashboard log-in refused", "user", name, "why", res.String())
		if res != checkWrong {
			back += "&locked=1"
		}
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	tok, _ := d.sessions.create(u)
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: tok, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil || d.opt.SecureCookies, SameSite: http.SameSiteStrictMode,
		MaxAge: int(d.opt.SessionTTL / time.Second),
	})
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/dash/login", MaxAge: -1})
	d.opt.Log.Info("dashboard log-in", "user", u.User, "role", u.Role)
	http.Redirect(w, r, "/dash/", http.StatusSeeOther)
}

func (d *Dash) count(reason string) {
	if d.opt.Count != nil {
		d.opt.Count(reason)
	}
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

func (d *Dash) logout(w http.ResponseWriter, r *http.Request) {
	if s := d.sessions.get(r); s != nil && subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) == 1 {
		d.sessions.end(r)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: r.TLS != nil || d.opt.SecureCookies, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/dash/login", http.StatusSeeOther)
}

// auth admits only logged-in viewers to an API route.
func (d *Dash) auth(f func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := d.sessions.get(r)
		if s == nil {
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		}
		f(w, r, s)
	}
}

// Viewer returns the user a request comes from: a logged-in session, or
// HTTP Basic credentials of a dashboard user (for tools and scripts; checked
// like a log-in, with the same lockout, and remembered for a few minutes
// so a polling tool does not cost a bcrypt per request).
func (d *Dash) Viewer(r *http.Request) (User, bool) {
	if s := d.sessions.get(r); s != nil {
		return s.user, true
	}
	name, pw, ok := r.BasicAuth()
	if !ok {
		return User{}, false
	}
	u, res := d.guard.check(hostOf(r.RemoteAddr), name, pw, d.users)
	if res != checkOK {
		d.count(res.String())
		return User{}, false
	}
	return u, true
}

// Protect serves h only to a viewer (any role); page says whether a
// stranger is sent to the log-in page or answered 401.
func (d *Dash) Protect(h http.Handler, page bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := d.Viewer(r); ok {
			h.ServeHTTP(w, r)
			return
		}
		if page {
			http.Redirect(w, r, "/dash/login", http.StatusSeeOther)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="kordon", charset="UTF-8"`)
		http.Error(w, "log in first", http.StatusUnauthorized)
	})
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// PostLogin logs a tool in as a browser does: it fetches the log-in form
// (and its CSRF cookie, kept by c's cookie jar) and posts the form with
// the token. c needs a cookie jar; the session cookie lands in it.
func PostLogin(c *http.Client, base, user, password string) (*http.Response, error) {
	resp, err := c.Get(base + "/dash/login")
	if err != nil {
		return nil, err
	}
	page, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	m := csrfField.FindSubmatch(page)
	if m == nil {
		return nil, errors.New("log-in page carries no CSRF token")
	}
	return c.PostForm(base+"/dash/login", url.Values{"user": {user}, "password": {password}, "csrf": {string(m[1])}})
}
