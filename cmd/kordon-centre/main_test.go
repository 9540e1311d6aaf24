package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kordon/kordon/internal/config"
)

// centre.yaml's mistakes are each named by file, line and field, all at once.
func TestCentreConfigErrorsNameFileLineField(t *testing.T) {
	dir := t.TempDir()
	pem := filepath.Join(dir, "x.pem")
	os.WriteFile(pem, []byte("x"), 0o600)
	p := filepath.Join(dir, "centre.yaml")
	os.WriteFile(p, []byte(`postgres: "postgres://kordon@127.0.0.1/kordon"
crossings: [kordai, "Ak Zhol"]
cert: `+pem+`
key: `+pem+`
ca: `+pem+`
users:
  - {user: analyst, role: analist, password_hash: "$2a$04$x"}
nodes:
  - name: c1
    cert: `+pem+`
    key: `+pem+`
    store_dir: /tmp/c1
    reader_user: centre
    reader_password: pw
`), 0o600)
	_, err := loadCentre(p)
	es := config.List(err)
	want := []struct {
		line  int
		field string
		msg   string
	}{
		{2, "crossings[1]", "site id"},
		{7, "users[0].role", "did you mean analyst"},
		{9, "nodes[0].ca", "missing"},
	}
	if len(es) != len(want) {
		t.Fatalf("%d errors, want %d:\n%v", len(es), len(want), err)
	}
	for i, w := range want {
		e := es[i]
		if e.File != p || e.Line != w.line || e.Field != w.field || !strings.Contains(e.Msg, w.msg) {
			t.Errorf("got %s:%d: %s: %s; want line %d field %s …%s…", e.File, e.Line, e.Field, e.Msg, w.line, w.field, w.msg)
		}
	}
}
