package booth

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
)

const screenCookie = "kordon_screen"

// ScreenToken reads the screen token the config names, and refuses a
// readout that would show personal data to the network without one.
func ScreenToken(cfg Config) (string, error) {
	addr := cfg.Listen
	if addr == "" {
		addr = DefaultListen
	}
	if cfg.ScreenTokenFile == "" {
		if !loopback(addr) {
			return "", fmt.Errorf("booth.listen %q is reachable from the network: set booth.screen_token_file, or listen on 127.0.0.1", addr)
		}
		return "", nil
	}
	b, err := os.ReadFile(cfg.ScreenTokenFile)
	if err != nil {
		return "", fmt.Errorf("booth.screen_token_file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 32 {
		return "", errors.New("booth.screen_token_file: the token must be at least 32 characters")
	}
	return tok, nil
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Screen serves h only to the booth's screen: with a token, a browser
// that presented it (once as ?screen=, then by its cookie); without one,
// any client of the loopback listener.
func Screen(h http.Handler, token string) http.Handler {
	if token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query().Get("screen"); q != "" {
			if subtle.ConstantTimeCompare([]byte(q), []byte(token)) != 1 {
				http.Error(w, "not this booth's screen", http.StatusForbidden)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: screenCookie, Value: token, Path: "/", HttpOnly: true,
				SameSite: http.SameSiteStrictMode, MaxAge: 10 * 365 * 24 * 3600, Secure: r.TLS != nil})
			u := *r.URL
			q := u.Query()
			q.Del("screen")
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther) // the token leaves the address bar
			return
		}
		c, err := r.Cookie(screenCookie)
		if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(token)) != 1 {
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "not this booth's screen", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
