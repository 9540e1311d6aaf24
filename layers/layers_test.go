package layers

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/kordon/kordon"

// benchTools are the programs whose job is to hand drivers recorded or
// simulated devices: they link fakes and replay tooling by design and run
// on a bench, not at a crossing.
var benchTools = []string{
	module + "/cmd/hwtest",   // decode, record, replay, rigs
	module + "/cmd/hubbench", // simulated boxes against a hub
}

// pkg is what `go list -deps -json` says of a package.
type pkg struct {
	ImportPath string
	Name       string
	Standard   bool
	Deps       []string
}

// list runs `go list -json` (with -deps when deps) on the patterns, from
// the module root.
func list(t *testing.T, deps bool, patterns ...string) []pkg {
	t.Helper()
	args := []string{"list", "-json=ImportPath,Name,Standard,Deps"}
	if deps {
		args = append(args, "-deps")
	}
	cmd := exec.Command("go", append(args, patterns...)...)
	cmd.Dir = ".."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	var ps []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

// under says whether import path p is dir or inside it (dir relative to
// the module root).
func under(p, dir string) bool {
	d := module + "/" + dir
	return p == d || strings.HasPrefix(p, d+"/")
}

// testOnly names why a package is for tests only, or "".
func testOnly(p pkg) string {
	switch {
	case p.Standard && (p.ImportPath == "testing" || strings.HasPrefix(p.ImportPath, "testing/") || p.ImportPath == "net/http/httptest"):
		return "the standard library's testing support"
	case p.Standard:
		return "" // internal/synctest and the like are the runtime's own
	case p.ImportPath == "github.com/jonboulle/clockwork":
		return "a fake clock"
	case under(p.ImportPath, "hwtest"):
		return "replay tooling"
	case strings.HasSuffix(path.Base(p.ImportPath), "test"):
		return "a fake or test kit (a *test package)"
	}
	return ""
}

// TestProgramsLinkNoFakes: edged, hubd, kordon-centre and every other
// program of the module except the bench tools link no fake, test kit,
// fake clock or replay tooling.
func TestProgramsLinkNoFakes(t *testing.T) {
	var mains []string
	for _, p := range list(t, false, "./...") {
		if p.Name == "main" && !slices.Contains(benchTools, p.ImportPath) {
			mains = append(mains, p.ImportPath)
		}
	}
	if !slices.Contains(mains, module+"/cmd/edged") || !slices.Contains(mains, module+"/cmd/hubd") {
		t.Fatalf("programs found: %v; edged and hubd must be among them", mains)
	}
	for _, m := range mains {
		byPath := map[string]pkg{}
		for _, p := range list(t, true, m) {
			byPath[p.ImportPath] = p
		}
		for _, dep := range byPath[m].Deps {
			if why := testOnly(byPath[dep]); why != "" {
				t.Errorf("%s links %s: %s", m, dep, why)
			}
		}
	}
}

// TestDriversImportNothingAbove: no package under drivers/ depends on
// edge/ or hub/ (a family is one folder the edge and the hub pick up, not
// the other way round), and nothing under internal/ depends on the layers
// above it. Test files are not looked at: a driver's end-to-end test may
// start a whole station.
func TestDriversImportNothingAbove(t *testing.T) {
	check := func(dir string, above ...string) {
		for _, p := range list(t, true, "./"+dir+"/...") {
			if !under(p.ImportPath, dir) {
				continue // a dependency, listed too
			}
			for _, d := range p.Deps {
				for _, a := range above {
					if under(d, a) {
						t.Errorf("%s depends on %s (%s/ is above it)", p.ImportPath, d, a)
					}
				}
			}
		}
	}
	check("drivers", "edge", "hub")
	check("internal", "drivers", "edge", "hub", "hwtest", "e2e", "blo", "centre", "cmd")
}
