package dash

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
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
	mu   sync.Mutex
	ttl  time.Duration
	m    map[string]*session
	fail map[string]*failures // by user name: slows password guessing
}

type failures struct {
	n     int
	until time.Time
}

func newSessions(ttl time.Duration) *sessions {
	return &sessions{ttl: ttl, m: map[string]*session{}, fail: map[string]*failures{}}
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

// locked says whether a user is refused for now after repeated failures.
func (s *sessions) locked(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fail[user]
	return f != nil && time.Now().Before(f.until)
}

func (s *sessions) failed(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.fail) > 10000 {
		s.fail = map[string]*failures{} // bound memory against name spraying
	}
	f := s.fail[user]
	if f == nil {
		f = &failures{}
		s.fail[user] = f
	}
	f.n++
	if f.n >= 5 {
		f.until = time.Now().Add(time.Minute)
		f.n = 0
	}
}

func (s *sessions) succeeded(user string) {
	s.mu.Lock()
	delete(s.fail, user)
	s.mu.Unlock()
}

var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no such user"), bcrypt.DefaultCost)

func (d *Dash) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	name, pw := r.PostFormValue("user"), r.PostFormValue("password")
	lang := r.PostFormValue("lang")
	back := "/dash/login?error=1"
	if lang != "" {
		back += "&lang=" + lang
	}
	if d.sessions.locked(name) {
		http.Redirect(w, r, back+"&locked=1", http.StatusSeeOther)
		return
	}
	u, ok := d.users[name]
	hash := []byte(u.PasswordHash)
	if !ok {
		hash = dummyHash // an unknown user costs what a wrong password costs
	}
	if err := bcrypt.CompareHashAndPassword(hash, []byte(pw)); err != nil || !ok {
		d.sessions.failed(name)
		d.opt.Log.Warn("dashboard log-in refused", "user", name)
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	d.sessions.succeeded(name)
	tok, _ := d.sessions.create(u)
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: tok, Path: "/dash/", HttpOnly: true,
		Secure: r.TLS != nil || d.opt.SecureCookies, SameSite: http.SameSiteStrictMode,
		MaxAge: int(d.opt.SessionTTL / time.Second),
	})
	d.opt.Log.Info("dashboard log-in", "user", u.User, "role", u.Role)
	http.Redirect(w, r, "/dash/", http.StatusSeeOther)
}

func (d *Dash) logout(w http.ResponseWriter, r *http.Request) {
	if s := d.sessions.get(r); s != nil && subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) == 1 {
		d.sessions.end(r)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/dash/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
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
