package hwtest

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kordon/kordon/drivers/all"
	"github.com/kordon/kordon/hwtest/goldentest"
	"github.com/kordon/kordon/hwtest/trace"
)

// TestTraceLibrary is the trace library rule, checked without replaying
// anything: every trace under drivers/*/testdata/traces names a registered
// driver; a trace the harness replays (serial, usb) has its golden file
// in ../golden and no golden file has lost its trace, and the family's
// tests run the folder through the golden runner (goldentest.Run), which
// replays each trace once; a trace of another transport (gpio) is named by
// a test of its family, which replays it in stepped time. Adding a trace
// and its golden file is all it takes to add a regression case.
func TestTraceLibrary(t *testing.T) {
	registered := map[string]bool{}
	for _, d := range all.Drivers() {
		registered[d.Name] = true
	}
	var dirs []string
	err := filepath.WalkDir("../drivers", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			if st, err := os.Stat(filepath.Join(path, "traces")); err == nil && st.IsDir() {
				dirs = append(dirs, path)
			}
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no traces under drivers/*/testdata")
	}
	total := 0
	for _, dir := range dirs {
		pkg := filepath.Dir(dir)
		tests := testSources(t, pkg)
		traces, err := filepath.Glob(filepath.Join(dir, "traces", "*.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		replayed := false
		for _, path := range traces {
			total++
			tr, err := trace.ReadFile(path)
			if err != nil {
				t.Errorf("%s: %v", path, err)
				continue
			}
			if !registered[tr.Header.Driver] {
				t.Errorf("%s names driver %q, which is not registered in drivers/all", path, tr.Header.Driver)
			}
			switch tr.Header.Transport {
			case "", "serial", "usb":
				replayed = true
			default:
				if !strings.Contains(tests, filepath.Base(path)) {
					t.Errorf("%s: transport %q is not replayed by the golden runner, and no test in %s names it", path, tr.Header.Transport, pkg)
				}
			}
		}
		if !replayed {
			continue
		}
		if _, err := goldentest.Cases(dir, false); err != nil {
			t.Error(err)
		}
		// A plain text search, not a parse: the call is one line by
		// convention, and a miss fails loudly here.
		if !strings.Contains(tests, "goldentest.Run(") {
			t.Errorf("%s has golden traces but no test in %s runs them (goldentest.Run)", dir, pkg)
		}
	}
	t.Logf("%d traces in %d folders", total, len(dirs))
}

// testSources is the text of every _test.go file in dir.
func testSources(t *testing.T, dir string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(src)
	}
	return b.String()
}
