package hub

// The hostile-client suite, web half: real hubd HTTP listener, plain
// net/http clients playing a stranger, another site, a password guesser.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kordon/kordon/hub/dash"
	"github.com/kordon/kordon/internal/contract"
)

func webHub(t *testing.T, edit func(*Config)) *Hub {
	t.Helper()
	return hostileHub(t, func(c *Config) {
		c.HTTP = "127.0.0.1:0"
		b, _ := bcrypt.GenerateFromPassword([]byte("officerpw"), bcrypt.MinCost)
		c.Users = []dash.User{{User: "officer", Role: dash.RoleOfficer, PasswordHash: string(b)}}
		if edit != nil {
			edit(c)
		}
	})
}

// secrets of the specimen passport that must never leave unauthenticated.
var secrets = []string{"ERIKSSON", "ANNA", "L898902C3", "1974-08-12", "740812"}

func TestHostileWebStrangerGetsNoData(t *testing.T) {
	h := webHub(t, nil)
	c := boxClient(t, h, "booth1")
	// A reading whose sender left out its personal list.
	bodies := specimens(t, "booth1", "reader1", 2)
	if tok := c.Publish(contract.Readings(testCrossing, "booth1", "reader1"), 1, false, withoutPersonal(bodies[0])); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	waitFor(t, "reading stored", func() bool { return h.Counters().Readings == 1 })
	base := "http://" + h.HTTPAddr()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	for _, path := range []string{"/live", "/api/readings", "/api/alerts", "/events", "/dash/", "/dash/api/alerts", "/dash/events"} {
		resp, err := noRedirect.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusSeeOther {
			t.Errorf("GET %s without log-in = %d, want 401 or a redirect to the log-in", path, resp.StatusCode)
		}
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("GET %s without log-in shows %q", path, s)
			}
		}
	}
	for _, path := range []string{"/healthz", "/api/counters", "/metrics"} {
		resp, err := noRedirect.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("health route %s = %d", path, resp.StatusCode)
		}
	}
	// Logged in, the API still withholds what the kind's schema marks personal.
	v := logIn(t, h, "officer", "officerpw")
	if v == nil {
		t.Fatal("officer cannot log in")
	}
	resp, err := v.c.Get(base + "/api/readings")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, s := range secrets {
		if strings.Contains(string(b), s) {
			t.Errorf("/api/readings shows %q for a reading without its personal list", s)
		}
	}
	// /events too (first event after the snapshot is the next reading).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/events", nil)
	resp, err = v.c.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/events for a viewer: %v %v", err, resp)
	}
	defer resp.Body.Close()
	c.Publish(contract.Readings(testCrossing, "booth1", "reader1"), 1, false, withoutPersonal(bodies[1])).Wait()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "data: ") && strings.Contains(line, `"kind":"document"`) {
			for _, s := range secrets {
				if strings.Contains(line, s) {
					t.Fatalf("/events shows %q: %s", s, line)
				}
			}
			return
		}
	}
	t.Fatal("no reading on /events")
}

func TestHostileWebSecurityHeadersOnEveryPage(t *testing.T) {
	h := webHub(t, nil)
	base := "http://" + h.HTTPAddr()
	for _, path := range []string{"/", "/dash/", "/dash/login", "/live", "/live/live.js", "/healthz", "/metrics", "/api/readings", "/nope", "/dash/static/dash.js"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") ||
			resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: CSP %q, X-Frame-Options %q, nosniff %q", path, csp, resp.Header.Get("X-Frame-Options"), resp.Header.Get("X-Content-Type-Options"))
		}
	}
}

func TestHostileWebLoginCSRF(t *testing.T) {
	h := webHub(t, nil)
	base := "http://" + h.HTTPAddr()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// No token: a form posted from anywhere else.
	resp, err := c.PostForm(base+"/dash/login", url.Values{"user": {"officer"}, "password": {"officerpw"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || hasSession(jar, base) {
		t.Fatalf("log-in without CSRF token = %d (session %v), want 403", resp.StatusCode, hasSession(jar, base))
	}
	// Right token, but posted by another site's page.
	resp, err = c.Get(base + "/dash/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tok := strings.SplitN(strings.SplitN(string(page), `name="csrf" value="`, 2)[1], `"`, 2)[0]
	form := url.Values{"user": {"officer"}, "password": {"officerpw"}, "csrf": {tok}}
	req, _ := http.NewRequest("POST", base+"/dash/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || hasSession(jar, base) {
		t.Fatalf("cross-site log-in = %d, want 403", resp.StatusCode)
	}
	// The real form logs in.
	resp, err = c.PostForm(base+"/dash/login", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !hasSession(jar, base) {
		t.Fatalf("log-in with the form's token = %d, no session", resp.StatusCode)
	}
	if !strings.Contains(scrape(t, h), `kordon_hub_login_refused_total{reason="csrf"} 1`) {
		t.Error("CSRF refusal not in /metrics")
	}
}

func hasSession(jar http.CookieJar, base string) bool {
	u, _ := url.Parse(base + "/dash/")
	for _, c := range jar.Cookies(u) {
		if c.Name == "kordon_session" {
			return true
		}
	}
	return false
}

// guess posts one log-in from the given client address (the test hands
// the handler a RemoteAddr as a proxy-free network would).
func guess(h http.Handler, addr, user, pw string) (int, string) {
	req, _ := http.NewRequest("GET", "/dash/login", nil)
	req.RemoteAddr = addr
	rec := &recorder{h: http.Header{}}
	h.ServeHTTP(rec, req)
	page := rec.body.String()
	tok := strings.SplitN(strings.SplitN(page, `name="csrf" value="`, 2)[1], `"`, 2)[0]
	form := url.Values{"user": {user}, "password": {pw}, "csrf": {tok}}
	req, _ = http.NewRequest("POST", "/dash/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "kordon_login", Value: tok})
	req.RemoteAddr = addr
	rec = &recorder{h: http.Header{}}
	h.ServeHTTP(rec, req)
	return rec.code, rec.h.Get("Location")
}

type recorder struct {
	h    http.Header
	code int
	body strings.Builder
}

func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(c int)           { r.code = c }

func TestHostileWebLockoutCannotLockOutTheOfficer(t *testing.T) {
	h := webHub(t, nil)
	web := h.webHandler()
	for range 20 { // a stranger keeps the officer's name busy
		guess(web, "10.9.9.9:5000", "officer", "wrong")
	}
	if code, loc := guess(web, "10.9.9.9:5000", "officer", "officerpw"); code != http.StatusSeeOther || !strings.Contains(loc, "locked") {
		t.Fatalf("the guesser's own address is not locked: %d %s", code, loc)
	}
	if code, loc := guess(web, "10.1.1.1:6000", "officer", "officerpw"); code != http.StatusSeeOther || loc != "/dash/" {
		t.Fatalf("the officer at her own desk is locked out: %d %s", code, loc)
	}
}

func TestHostileWebParallelGuessesAreBounded(t *testing.T) {
	h := webHub(t, func(c *Config) {
		b, _ := bcrypt.GenerateFromPassword([]byte("officerpw"), bcrypt.DefaultCost)
		c.Users[0].PasswordHash = string(b)
	})
	web := h.webHandler()
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			guess(web, "10.9.9.9:5000", "officer", fmt.Sprintf("guess%d", i))
		}()
	}
	wg.Wait()
	m := scrape(t, h)
	checked := metricValue(m, `kordon_hub_login_refused_total{reason="login_wrong"}`)
	t.Logf("40 parallel guesses: %d checked against the password; busy %d, locked %d", checked,
		metricValue(m, `kordon_hub_login_refused_total{reason="login_busy"}`), metricValue(m, `kordon_hub_login_refused_total{reason="login_locked"}`))
	if checked > 5 {
		t.Fatalf("%d of 40 parallel guesses were checked against the password", checked)
	}
}

func metricValue(scraped, name string) int {
	for _, l := range strings.Split(scraped, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			var n int
			fmt.Sscan(v, &n)
			return n
		}
	}
	return 0
}

func TestHostileWebDashboardOverTLS(t *testing.T) {
	p := newPKI(t)
	h := webHub(t, func(c *Config) {
		c.HTTPTLS = &WebTLS{Cert: filepath.Join(p.dir, "hub.pem"), Key: filepath.Join(p.dir, "hub.key")}
	})
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: p.clientTLS(t, nil)}, Timeout: 20 * time.Second}
	base := "https://" + h.HTTPAddr()
	resp, err := dash.PostLogin(c, base, "officer", "officerpw")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u, _ := url.Parse(base + "/")
	var secure bool
	for _, ck := range resp.Request.Response.Cookies() {
		if ck.Name == "kordon_session" {
			secure = ck.Secure && ck.HttpOnly && ck.SameSite == http.SameSiteStrictMode
		}
	}
	if !secure || len(jar.Cookies(u)) == 0 {
		t.Fatal("no Secure, HttpOnly, SameSite=Strict session cookie over TLS")
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS over TLS")
	}
	// Plain HTTP on the TLS port gets nothing.
	plain, err := http.Get("http://" + h.HTTPAddr() + "/dash/login")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode == 200 {
			t.Fatal("the dashboard answers plain HTTP on its TLS listener")
		}
	}
}
