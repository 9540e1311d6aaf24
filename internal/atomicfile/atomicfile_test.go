package atomicfile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kordon/kordon/internal/atomicfile"
)

func TestWriteReplacesAndLeavesNoTemporary(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "fever.json")
	for _, content := range []string{`["a"]`, `["a","b"]`, `[]`} {
		if err := atomicfile.Write(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil || string(b) != content {
			t.Fatalf("read %q, %v; want %q", b, err, content)
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v; want 0600", fi.Mode(), err)
	}
	names, _ := os.ReadDir(dir)
	if len(names) != 1 {
		t.Errorf("%d files in the directory, want the one written: %v", len(names), names)
	}
}

func TestWriteFailsWhereItCannotWrite(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain")
	os.WriteFile(file, nil, 0o600)
	if err := atomicfile.Write(filepath.Join(file, "below"), []byte("x"), 0o600); err == nil {
		t.Error("wrote below a plain file")
	}
}
