package booth

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kordon/kordon/drivers"
)

// TestServesEveryFamilysView: /booth/families.js carries each family's own
// view, or the fields of its generic card, and the page loads it before
// its own script.
func TestServesEveryFamilysView(t *testing.T) {
	b := New("booth-01", Config{})
	w := httptest.NewRecorder()
	b.ServeHTTP(w, httptest.NewRequest("GET", "/booth/families.js", nil))
	js := w.Body.String()
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/javascript") {
		t.Fatalf("status %d, %q", w.Code, w.Header().Get("Content-Type"))
	}
	fams, err := drivers.Families()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		want := `window.KordonBoothViews["` + f.Kind + `"] = {fields: `
		if f.Booth.Script {
			want = "views." + f.Kind + " = {"
		}
		if !strings.Contains(js, want) {
			t.Errorf("families.js lacks %s's view (%q)", f.Name, want)
		}
	}
	w = httptest.NewRecorder()
	b.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	page := w.Body.String()
	if i, j := strings.Index(page, "/booth/families.js"), strings.Index(page, "/booth/static/booth.js"); i < 0 || j < i {
		t.Errorf("the page does not load families.js before booth.js")
	}
}
