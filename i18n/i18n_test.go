package i18n

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
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

// TestTranslationsComplete: English, Russian and Kazakh have every key;
// no file has a key English lacks (a typo would never show); English has
// no key the screens do not use, and the screens use no key English lacks.
// Other languages may be partial while a translator works: their gaps fall
// back to English, and are listed (kordon-i18n lists them too).
func TestTranslationsComplete(t *testing.T) {
	u, err := ScanSources(os.DirFS(".."), SourceDirs()...)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Keys) < 100 || len(u.Prefixes) < 5 {
		t.Fatalf("found %d keys and %d key families in the screens; the patterns no longer match the pages", len(u.Keys), len(u.Prefixes))
	}
	complete := map[string]bool{}
	for _, c := range Complete() {
		complete[c] = true
	}
	seen := map[string]bool{}
	for _, r := range Check(u) {
		seen[r.Lang] = true
		if len(r.Missing) > 0 {
			if complete[r.Lang] {
				t.Errorf("%s.json lacks %d keys: %v", r.Lang, len(r.Missing), r.Missing)
			} else {
				t.Logf("%s.json lacks %d keys (English is shown): %v", r.Lang, len(r.Missing), r.Missing)
			}
		}
		if len(r.Unknown) > 0 {
			t.Errorf("%s.json has keys en.json lacks: %v", r.Lang, r.Unknown)
		}
		if len(r.Unused) > 0 {
			t.Errorf("en.json has keys no screen uses: %v", r.Unused)
		}
		if len(r.Undefined) > 0 {
			t.Errorf("the screens use keys en.json lacks: %v", r.Undefined)
		}
	}
	for c := range complete {
		if !seen[c] {
			t.Errorf("no %s.json", c)
		}
	}
}

// TestEveryRuleHasASummary: each rule the hub ships has its summary in
// every complete language, so a Russian or Kazakh dashboard never shows a
// rule's English summary.
func TestEveryRuleHasASummary(t *testing.T) {
	files, err := filepath.Glob("../drivers/*/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ids [][]string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, regexp.MustCompile(`(?m)^\s*- id: *([a-z0-9-]+)`).FindAllStringSubmatch(string(b), -1)...)
	}
	if len(ids) < 5 {
		t.Fatalf("found %d rules in drivers/*/rules.yaml; the pattern no longer matches", len(ids))
	}
	for _, c := range Complete() {
		m := Raw(c)
		for _, id := range ids {
			if k := "rule." + id[1] + ".summary"; m[k] == "" {
				t.Errorf("%s.json lacks %q", c, k)
			}
		}
	}
}

// TestScanFindsKeyUses: written-out keys, key families and keys in lists
// are found; a key nobody uses is reported unused.
func TestScanFindsKeyUses(t *testing.T) {
	fsys := fstest.MapFS{"web/a.js": {Data: []byte(`T("alert.ack"); T("loading"); el("b", T(x ? "yes" : "no")); ` +
		`["health.device"].forEach(k => T(k)); I18N.has("field." + k); T("rule." + id + ".summary")`)},
		"web/a.html": {Data: []byte(`<b data-i18n="nav.alerts"></b><i data-i18n-placeholder="history.text"></i>`)}}
	u, err := ScanSources(fsys, "web")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"alert.ack", "loading", "yes", "no", "health.device", "field.sex", "rule.fever.summary", "nav.alerts", "history.text"} {
		if !u.Used(k) {
			t.Errorf("%q not found used", k)
		}
	}
	if u.Used("alert.resolve") || u.Used("fieldx") {
		t.Error("a key nobody uses counts as used")
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
