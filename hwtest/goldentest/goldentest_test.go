package goldentest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRenamedTraceIsAnError: a trace renamed without its golden file
// leaves a trace without a golden file and a golden file without a trace;
// both are named, and neither is skipped.
func TestRenamedTraceIsAnError(t *testing.T) {
	dir := t.TempDir()
	touch(t, filepath.Join(dir, "traces", "kept.jsonl"))
	touch(t, filepath.Join(dir, "golden", "kept.jsonl"))
	touch(t, filepath.Join(dir, "traces", "new-name.jsonl"))
	touch(t, filepath.Join(dir, "golden", "old-name.jsonl"))
	cases, err := Cases(dir, false)
	if err == nil || !strings.Contains(err.Error(), "new-name.jsonl has no golden file") || !strings.Contains(err.Error(), "old-name.jsonl has no trace") {
		t.Fatalf("err = %v", err)
	}
	if len(cases) != 1 || cases[0].Name != "kept" {
		t.Errorf("cases %+v", cases)
	}
	// -update lists the trace so its golden file can be written; the
	// orphan golden file is still an error.
	cases, err = Cases(dir, true)
	if len(cases) != 2 || err == nil || strings.Contains(err.Error(), "new-name") {
		t.Errorf("update: cases %+v, err %v", cases, err)
	}
}
