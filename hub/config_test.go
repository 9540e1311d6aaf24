package hub

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/kordon/kordon/internal/config"
)

// goodHubConfig has its hashes filled in by hubConfig.
const goodHubConfig = `crossing: kz-demo
mqtt: "127.0.0.1:1883"
http: "127.0.0.1:8080"
data_dir: /tmp/kordon-hub
boxes:
  - box: booth-01
    password_hash: "HASH"
observers:
  - user: watch
    password_hash: "HASH"
users:
  - user: aigerim
    name: A. Nurlanova
    role: supervisor
    password_hash: "HASH"
limits:
  max_payload: 262144
  max_inflight: 64
`

func testHash(t *testing.T) string {
	h, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestGoodHubConfigLoads(t *testing.T) {
	src := strings.ReplaceAll(goodHubConfig, "HASH", testHash(t))
	c, err := ParseConfig("hub.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if c.Crossing != "kz-demo" || len(c.Boxes) != 1 || c.Users[0].Role != "supervisor" || c.Limits.MaxInflight != 64 {
		t.Errorf("%+v", c)
	}
}

// Every mistake names file, line and field, and hubd refuses to start on
// any invalid user, role, hash or identifier.
func TestHubConfigErrorsNameFileLineField(t *testing.T) {
	hash := testHash(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	broken := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(broken, []byte("rules:\n  - id: fever\n    when: payload.celsius >>> 38\n    severity: high\n    summary: Fever\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, from, to string
		line           int
		field, want    string
	}{
		{"unknown field", "data_dir:", "data_dri:", 4, "data_dri", "unknown field (did you mean data_dir?)"},
		{"unknown nested field", "  max_inflight: 64", "  max_inflite: 64", 18, "limits.max_inflite", "did you mean max_inflight?"},
		{"max_inflight too large", "max_inflight: 64", "max_inflight: 70000", 18, "limits.max_inflight", "70000 is out of range (0 to 65535)"},
		{"max_inflight zero", "max_inflight: 64", "max_inflight: 0", 18, "limits.max_inflight", "0 is out of range (1 to 65535)"},
		{"max_payload tiny", "max_payload: 262144", "max_payload: 10", 17, "limits.max_payload", "10 is out of range"},
		{"max_payload not a number", "max_payload: 262144", "max_payload: 256k", 17, "limits.max_payload", `"256k" is not a whole number`},
		{"session_expiry negative", "  max_inflight: 64", "  max_inflight: 64\n  session_expiry: -1", 19, "limits.session_expiry", "-1 is out of range (0 to 4294967295)"},
		{"max_clients zero", "  max_inflight: 64", "  max_inflight: 64\n  max_clients: 0", 19, "limits.max_clients", "0 is out of range (1 to"},
		{"connect_rate zero", "  max_inflight: 64", "  max_inflight: 64\n  connect_rate: 0", 19, "limits.connect_rate", "0 is out of range (1 to"},
		{"connect_rate fractional", "  max_inflight: 64", "  max_inflight: 64\n  connect_rate: 0.5", 19, "limits.connect_rate", "0.5 is not a whole number"},
		{"connect_burst negative", "  max_inflight: 64", "  max_inflight: 64\n  connect_burst: -3", 19, "limits.connect_burst", "-3 is out of range (1 to"},
		{"limits not a mapping", "limits:\n  max_payload: 262144\n  max_inflight: 64\n", "limits: [64]\n", 16, "limits", "want a mapping"},
		{"crossing missing", "crossing: kz-demo\n", "", 1, "crossing", "missing"},
		{"unknown language", "crossing: kz-demo", "crossing: kz-demo\nlanguage: kz", 2, "language", `"kz" is not one of ru, en, kk`},
		{"crossing with slash", "crossing: kz-demo", "crossing: kz/demo", 1, "crossing", "not a valid id"},
		{"no listener", "mqtt: \"127.0.0.1:1883\"\n", "", 1, "mqtt", "missing"},
		{"bad mqtt address", "mqtt: \"127.0.0.1:1883\"", "mqtt: localhost", 2, "mqtt", "not a listen address"},
		{"bad http port", "http: \"127.0.0.1:8080\"", "http: \":80800\"", 3, "http", "not a listen address"},
		{"data_dir missing", "data_dir: /tmp/kordon-hub\n", "", 1, "data_dir", "missing"},
		{"box id with slash", "box: booth-01", "box: booth/01", 6, "boxes[0].box", "not a valid id"},
		{"box id with plus", "box: booth-01", "box: booth+01", 6, "boxes[0].box", "no spaces, /, + or #"},
		{"box id with hash", "box: booth-01", "box: 'booth#1'", 6, "boxes[0].box", "not a valid id"},
		{"box without hash", "    password_hash: \"HASH\"\nobservers:", "observers:", 6, "boxes[0].password_hash", `missing: box "booth-01" could never log in`},
		{"box hash not a hash", "  - box: booth-01\n    password_hash: \"HASH\"", "  - box: booth-01\n    password_hash: booth-01-secret", 7, "boxes[0].password_hash", "is not a bcrypt hash"},
		{"duplicate box", "observers:", "  - {box: booth-01, password_hash: \"HASH\"}\nobservers:", 8, "boxes[1].box", `box "booth-01" appears twice (also line 6)`},
		{"observer with space", "user: watch", "user: the watch", 9, "observers[0].user", "not a valid name"},
		{"observer named as a box", "user: watch", "user: booth-01", 9, "observers[0].user", "has the name of a box"},
		{"observer hash missing", "  - user: watch\n    password_hash: \"HASH\"", "  - user: watch", 9, "observers[0].password_hash", "missing"},
		{"user role typo", "role: supervisor", "role: supervisr", 14, "users[0].role", `"supervisr" is not one of officer, supervisor, technician (did you mean supervisor?)`},
		{"user role missing", "    role: supervisor\n", "", 12, "users[0].role", "missing"},
		{"user hash is plain text", "    role: supervisor\n    password_hash: \"HASH\"", "    role: supervisor\n    password_hash: hunter2", 15, "users[0].password_hash", "is not a bcrypt hash"},
		{"user name with wildcard", "user: aigerim", "user: aigerim#", 12, "users[0].user", "not a valid name"},
		{"duplicate user", "limits:", "  - {user: aigerim, role: officer, password_hash: \"HASH\"}\nlimits:", 16, "users[1].user", `user "aigerim" appears twice (also line 12)`},
		{"rules file missing", "data_dir: /tmp/kordon-hub", "data_dir: /tmp/kordon-hub\nrules: " + missing, 5, "rules", "missing.yaml: no such file"},
		{"rules file broken", "data_dir: /tmp/kordon-hub", "data_dir: /tmp/kordon-hub\nrules: " + broken, 5, "rules", "rules.yaml:3"},
		{"tls files missing", "data_dir: /tmp/kordon-hub", "data_dir: /tmp/kordon-hub\ntls: {address: \":8883\", ca: " + missing + ", cert: " + broken + ", key: " + broken + "}", 5, "tls.ca", "no such file"},
		{"watchlist poll without unit", "data_dir: /tmp/kordon-hub", "data_dir: /tmp/kordon-hub\nwatchlist:\n  poll: 5", 6, "watchlist.poll", "5 is not a duration (write 5s)"},
		{"watchlist key missing", "data_dir: /tmp/kordon-hub", "data_dir: /tmp/kordon-hub\nwatchlist:\n  file: " + broken, 5, "watchlist.key_file", "missing"},
		{"users not a list", "users:\n  - user: aigerim\n    name: A. Nurlanova\n    role: supervisor\n    password_hash: \"HASH\"\n", "users: aigerim\n", 11, "users", "want a list"},
		// yaml.v3 notices the unclosed bracket on the next line.
		{"yaml syntax", "crossing: kz-demo", "crossing: [kz-demo", 2, "", "YAML syntax"},
		{"empty file", goodHubConfig, "\n\n", 1, "", "empty file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(goodHubConfig, c.from, c.to, 1)
			if src == goodHubConfig {
				t.Fatalf("replacement did not apply")
			}
			src = strings.ReplaceAll(src, "HASH", hash)
			_, err := ParseConfig("hub.yaml", []byte(src))
			es := config.List(err)
			if len(es) != 1 {
				t.Fatalf("want exactly one error, got %d:\n%v", len(es), err)
			}
			e := es[0]
			if e.File != "hub.yaml" || e.Line != c.line || e.Field != c.field || !strings.Contains(e.Msg, c.want) {
				t.Errorf("got  %s:%d: %s: %s\nwant hub.yaml:%d: %s: …%s…", e.File, e.Line, e.Field, e.Msg, c.line, c.field, c.want)
			}
			if strings.Contains(e.Msg, "hub.") || strings.Contains(e.Msg, "!!") || strings.Contains(e.Msg, "uint16") {
				t.Errorf("message names Go types: %s", e.Msg)
			}
		})
	}
}

// The mistakes the audit planted, all in one file, all reported by one run.
func TestHubConfigReportsEveryErrorAtOnce(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	src := `crossing: kz-demo
mqtt: ":1883"
data_dir: /tmp/h
rules: ` + rules + `
boxes:
  - {box: booth/01, password_hash: x}
  - {box: booth-02}
observers:
  - {user: "watch+", password_hash: x}
users:
  - {user: aigerim, role: supervisr, password_hash: plain}
limits:
  max_inflight: 70000
  max_paylod: 1
`
	_, err := ParseConfig("hub.yaml", []byte(src))
	want := []string{
		"hub.yaml:4: rules: ",
		"hub.yaml:6: boxes[0].box: ",
		"hub.yaml:6: boxes[0].password_hash: is not a bcrypt hash",
		"hub.yaml:7: boxes[1].password_hash: missing",
		"hub.yaml:9: observers[0].user: ",
		"hub.yaml:9: observers[0].password_hash: is not a bcrypt hash",
		"hub.yaml:11: users[0].role: ",
		"hub.yaml:11: users[0].password_hash: is not a bcrypt hash",
		"hub.yaml:13: limits.max_inflight: 70000 is out of range",
		"hub.yaml:14: limits.max_paylod: unknown field (did you mean max_payload?)",
	}
	es := config.List(err)
	all := err.Error()
	if len(es) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(es), len(want), all)
	}
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("missing %q in:\n%s", w, all)
		}
	}
}

func TestMissingHubConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.yaml")
	if _, err := LoadConfig(path); err == nil || err.Error() != path+": no such file" {
		t.Errorf("err = %v", err)
	}
}
