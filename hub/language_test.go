package hub

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/kordon/kordon/hub/dash"
	"github.com/kordon/kordon/internal/logging"
)

// A crossing's configured language is its dashboard's default: the log-in
// page and the dashboard open in it (a user can still switch).
func TestCrossingLanguageIsDashboardDefault(t *testing.T) {
	pw, _ := bcrypt.GenerateFromPassword([]byte("officer1pw"), bcrypt.MinCost)
	cfg := &Config{Crossing: "kordai", Language: "kk", MQTT: "127.0.0.1:0", HTTP: "127.0.0.1:0", DataDir: t.TempDir(),
		Users: []dash.User{{User: "officer1", Role: dash.RoleOfficer, PasswordHash: string(pw)}}}
	h, err := New(cfg, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	resp, err := http.Get("http://" + h.HTTPAddr() + "/dash/login")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `<html lang="kk">`) {
		t.Errorf("the log-in page does not open in Kazakh:\n%.200s", b)
	}
	v := logIn(t, h, "officer1", "officer1pw")
	var me struct {
		DefaultLang string `json:"default_lang"`
	}
	if code := v.get("/dash/api/me", &me); code != 200 || me.DefaultLang != "kk" {
		t.Errorf("/dash/api/me: %d, default_lang %q, want kk", code, me.DefaultLang)
	}
}
