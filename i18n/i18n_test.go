package i18n

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestFilesParse(t *testing.T) {
	if err := Err(); err != nil {
		t.Fatal(err)
	}
	codes := map[string]bool{}
	for _, l := range Languages() {
		codes[l.Code] = true
		if l.Name == "" {
			t.Errorf("%s.json: \"_name\" (the language's own name) is missing", l.Code)
		}
	}
	if !codes["en"] || !codes["ru"] {
		t.Fatalf("languages = %v, want at least en and ru", Languages())
	}
}

// TestTranslationsMatchEnglish: Russian is complete; no file has a key
// English lacks (a typo would never show). Other languages may be partial
// while a translator works: their gaps fall back to English, and are listed.
func TestTranslationsMatchEnglish(t *testing.T) {
	en := Raw("en")
	for _, l := range Languages() {
		m := Raw(l.Code)
		for k := range m {
			if _, ok := en[k]; !ok {
				t.Errorf("%s.json: key %q is not in en.json", l.Code, k)
			}
		}
		var missing []string
		for k := range en {
			if m[k] == "" {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			if l.Code == "ru" {
				t.Errorf("ru.json lacks %d keys: %v", len(missing), missing)
			} else {
				t.Logf("%s.json lacks %d keys (English is shown): %v", l.Code, len(missing), missing)
			}
		}
	}
}

// TestPagesUseOnlyKnownKeys: every fixed key the screens use is in en.json.
func TestPagesUseOnlyKnownKeys(t *testing.T) {
	en := Raw("en")
	pats := []*regexp.Regexp{
		regexp.MustCompile(`data-i18n(?:-[a-z-]+)?="([^"]+)"`),
		regexp.MustCompile(`\bT\("([a-z_.]+[a-z_])"`),
		regexp.MustCompile(`\? "([a-z]+\.[a-z_.]+)" : "([a-z]+\.[a-z_.]+)"`),
	}
	files, _ := filepath.Glob("../hub/dash/web/*")
	more, _ := filepath.Glob("../edge/booth/web/*")
	files = append(files, more...)
	if len(files) < 4 {
		t.Fatalf("screens not found: %v", files)
	}
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, re := range pats {
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				for _, k := range m[1:] {
					n++
					if _, ok := en[k]; !ok {
						t.Errorf("%s uses key %q, which en.json lacks", f, k)
					}
				}
			}
		}
	}
	if n < 50 {
		t.Errorf("found only %d key uses; the patterns no longer match the pages", n)
	}
}

func TestHandlerFallsBackToEnglish(t *testing.T) {
	h := Handler()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/ru.json", nil))
	var m map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["booth.waiting"] != "Готово к следующему" {
		t.Errorf("ru booth.waiting = %q", m["booth.waiting"])
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/xx.json", nil))
	if w.Code != 404 {
		t.Errorf("unknown language: %d", w.Code)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/i18n.js", nil))
	if !strings.Contains(w.Body.String(), "window.I18N") {
		t.Error("i18n.js not served")
	}
}
