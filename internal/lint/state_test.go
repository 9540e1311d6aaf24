package lint

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

func TestPackageStateFindsState(t *testing.T) {
	got, err := PackageState("testdata/stateful", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Profiles": "exported table",
		"hits":     "without a value",
		"registry": "changed at",
		"count":    "constant would do",
		"cache":    "initialised by load()",
		"kinds":    "changed at",
	}
	seen := map[string]bool{}
	for _, f := range got {
		t.Log(f)
		w, ok := want[f.Name]
		if !ok {
			t.Errorf("reported %s, which holds no state: %s", f.Name, f)
			continue
		}
		if strings.Contains(f.Why, w) {
			seen[f.Name] = true
		}
	}
	for name, w := range want {
		if !seen[name] {
			t.Errorf("%s not reported (%q)", name, w)
		}
	}
	// count is also changed in bump (count++), not in shadow (a local).
	changes := 0
	for _, f := range got {
		if f.Name == "count" && strings.Contains(f.Why, "changed at") {
			changes++
		}
	}
	if changes != 1 {
		t.Errorf("count reported changed %d times, want once (bump; shadow's is a local)", changes)
	}
}

func TestPackageStateAllow(t *testing.T) {
	got, err := PackageState("testdata/stateful", map[string]string{"cache": "loaded once, read only", "count": "", "registry": "", "hits": "", "Profiles": "", "kinds": ""})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("allowed names still reported: %v", got)
	}
}

// Every package under these folders must keep no package-level mutable
// state, except for the variables listed here with the reason they are
// safe.
var trees = []string{"drivers", "internal", "edge", "hub", "blo", "centre", "e2e", "hwtest"}

var allowed = map[string]map[string]string{
	"hub": {
		"insertAlertsText":    "statement texts for 1 … 32 rows, built once from constants and only read",
		"addRepeatsText":      "statement texts for 1 … 32 rows, built once from constants and only read",
		"setClearedText":      "statement texts for 1 … 32 rows, built once from constants and only read",
		"insertLogText":       "statement texts for 1 … 32 rows, built once from constants and only read",
		"insertRaisedLogText": "statement texts for 1 … 32 rows, built once from constants and only read",
		"markAlertedText":     "statement texts for 1 … 32 rows, built once from constants and only read",
		"countActivityText":   "statement texts for 1 … 32 rows, built once from constants and only read",
	},
	"hub/dash": {"dummyHash": "a bcrypt hash made once at start and only read"},
	"edge": {
		"techDummyHash": "a bcrypt hash made once at start and only read",
		"labelEscaper":  "a strings.Replacer: immutable, safe for concurrent use",
		"processStart":  "the process's own start time, set once",
	},
	"edge/booth": {
		"static":  "the embedded files: read only",
		"i18nH":   "a handler over the embedded translations: holds nothing",
		"staticH": "a handler over the embedded files: holds nothing",
	},
	"edge/outbox": {
		"castagnoli":  "a CRC table: read only",
		"keySeq":      "a byte pattern the record scanner reads, never written",
		"keyOrigin":   "a byte pattern the record scanner reads, never written",
		"keyPayload":  "a byte pattern the record scanner reads, never written",
		"keyPersonal": "a byte pattern the record scanner reads, never written",
	},
	"internal/config": {
		"nodeType":     "a reflect.Type: immutable",
		"durationType": "a reflect.Type: immutable",
		"unmarshaler":  "a reflect.Type: immutable",
	},
	"internal/gpioline": {
		"initOnce": "periph.io's host drivers are registered process-wide: initialised once",
		"initErr":  "the result of that one initialisation",
	},
	"internal/reading": {"pointerCache": "personal-field pointers derived from Go types: the same for every caller"},
	"internal/version": {"Version": "set at link time (-ldflags -X), so it cannot be a constant"},
	"blo":              {"ErrNoIncoming": "a sentinel error"},
	"blo/blotest":      {"handedOut": "a test kit's ports handed out in this test process, so no two tests get one"},
}

func TestPackagesKeepNoState(t *testing.T) {
	checked := 0
	for _, top := range trees {
		root := filepath.Join("..", "..", top)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				return nil
			}
			if d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			pkg, _ := filepath.Rel(filepath.Join("..", ".."), p)
			pkg = filepath.ToSlash(pkg)
			got, err := PackageState(p, allowed[pkg])
			if err != nil {
				return fmt.Errorf("%s: %w", pkg, err)
			}
			checked++
			for _, f := range got {
				t.Errorf("%s: %s", pkg, f)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 50 {
		t.Fatalf("checked only %d packages: the walk is not reaching the tree", checked)
	}
}
