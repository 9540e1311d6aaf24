package dash

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestFamiliesReachTheDashboard: /dash/families.js carries the families'
// dashboard views, and /dash/api/families each kind's commands (the cctv
// buttons come from drivers/cctv/family.yaml, not from the page).
func TestFamiliesReachTheDashboard(t *testing.T) {
	d, err := New(Options{Store: &actStore{}})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	d.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/dash/families.js", nil))
	js := w.Body.String()
	for _, want := range []string{"views.document = {", "views.temperature = {", "views.weight = {"} {
		if w.Code != 200 || !strings.Contains(js, want) {
			t.Errorf("families.js (%d) lacks %q", w.Code, want)
		}
	}
	w = httptest.NewRecorder()
	d.families(w, httptest.NewRequest("GET", "/dash/api/families", nil), &session{user: User{User: "t", Role: RoleSupervisor}})
	var fams []familyInfo
	if err := json.Unmarshal(w.Body.Bytes(), &fams); err != nil {
		t.Fatal(err)
	}
	cmds := map[string][]string{}
	for _, f := range fams {
		for _, c := range f.Commands {
			cmds[f.Kind] = append(cmds[f.Kind], c.Name+":"+c.Action)
		}
	}
	if got := strings.Join(cmds["cctv"], ","); got != "cctv-trigger:activate,cctv-release:release" || len(cmds) != 1 {
		t.Errorf("commands by kind %v", cmds)
	}
	// Without a session the API refuses.
	w = httptest.NewRecorder()
	d.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/dash/api/families", nil))
	if w.Code == 200 {
		t.Errorf("families API without a session: %d", w.Code)
	}
}
