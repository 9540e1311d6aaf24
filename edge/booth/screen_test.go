package booth

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestScreenTokenRequiredOffLoopback(t *testing.T) {
	for _, addr := range []string{":8090", "0.0.0.0:8090", "10.0.0.5:8090"} {
		if _, err := ScreenToken(Config{Listen: addr}); err == nil {
			t.Errorf("readout on %s without a screen token accepted", addr)
		}
	}
	for _, addr := range []string{"", "127.0.0.1:8090", "[::1]:8090", "localhost:8090"} {
		if _, err := ScreenToken(Config{Listen: addr}); err != nil {
			t.Errorf("loopback readout %q refused: %v", addr, err)
		}
	}
	short := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	if _, err := ScreenToken(Config{Listen: ":8090", ScreenTokenFile: short}); err == nil {
		t.Error("a 3-character screen token accepted")
	}
}

// A browser on the network without the booth's token gets nothing: not the
// page, not /booth/state, not /booth/events.
func TestScreenServesOnlyTheTokenHolder(t *testing.T) {
	tok := strings.Repeat("k", 40)
	b := New("booth1", Config{})
	h := Screen(b, tok)
	for _, path := range []string{"/", "/booth/state", "/booth/events", "/booth/state?screen=wrong"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code == http.StatusOK {
			t.Errorf("GET %s without the screen token = 200", path)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/?screen="+tok+"&lang=en", nil))
	if rec.Code != http.StatusSeeOther || strings.Contains(rec.Header().Get("Location"), tok) {
		t.Fatalf("token presentation = %d, Location %q", rec.Code, rec.Header().Get("Location"))
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("screen cookie %+v", cookies)
	}
	req := httptest.NewRequest("GET", "/booth/state", nil)
	req.AddCookie(cookies[0])
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Header().Get("X-Frame-Options") != "DENY" {
		t.Fatalf("the screen with its cookie: %d, X-Frame-Options %q", rec.Code, rec.Header().Get("X-Frame-Options"))
	}
}
