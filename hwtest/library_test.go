package hwtest

import (
	"context"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/all"
	"github.com/kordon/kordon/hwtest/harness"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/device"
)

var update = flag.Bool("update", false, "write golden files for traces that have none (review them before committing)")

// TestTraceLibrary is the trace library rule: every trace under
// drivers/*/testdata/traces that has a golden file in ../golden is replayed
// into the registered driver its header names (serial traces through a
// pseudo-terminal, USB traces through the HID seam) and must produce its
// golden readings. Adding a trace and its golden file is all it takes to
// add a regression case.
func TestTraceLibrary(t *testing.T) {
	byName := map[string]device.Driver{}
	for _, d := range all.Drivers() {
		byName[d.Name] = d
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
	total := 0
	for _, dir := range dirs {
		cases, err := harness.Cases(dir, *update)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			total++
			name := strings.TrimPrefix(filepath.Dir(dir), "../drivers/") + "/" + c.Name
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				tr, err := trace.ReadFile(c.Trace)
				if err != nil {
					t.Fatal(err)
				}
				drv, ok := byName[tr.Header.Driver]
				if !ok {
					t.Fatalf("%s names driver %q, which is not registered in drivers/all", c.Trace, tr.Header.Driver)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				if tr.Header.Transport != "" && tr.Header.Transport != "serial" && tr.Header.Transport != "usb" {
					t.Skipf("%s: transport %q has no library replay yet", c.Trace, tr.Header.Transport)
				}
				pace, declared := harness.PaceOf(tr)
				col, err := harness.Replay(ctx, drv, tr, pace)
				if err != nil {
					t.Fatal(err)
				}
				if *update {
					if _, err := os.Stat(c.Golden); err == nil {
						return // never overwrite a reviewed golden file here
					}
					if err := harness.WriteGolden(col.Readings(), c.Golden); err != nil {
						t.Fatal(err)
					}
					t.Logf("wrote %s: review it", c.Golden)
					return
				}
				diff, err := harness.CompareGolden(col.Readings(), c.Golden)
				if err != nil {
					t.Fatal(err)
				}
				if diff != "" && !declared {
					// Some traces mean what they mean only on their recorded
					// timing (a row torn by a pause); a header without a pace
					// gets that second chance, and a hint to declare it.
					col, err := harness.Replay(ctx, drv, tr, harness.Timed)
					if err != nil {
						t.Fatal(err)
					}
					timed, err := harness.CompareGolden(col.Readings(), c.Golden)
					if err != nil {
						t.Fatal(err)
					}
					if timed == "" {
						t.Logf(`%s matches only on its recorded timing: add "replay":{"speed":1,"max_gap":3} to its header`, c.Trace)
						return
					}
					diff = "as fast as ordering allows:\n" + diff + "\non the recorded timing:\n" + timed
				}
				if diff != "" {
					t.Errorf("%s replays differently from %s:\n%s", c.Trace, c.Golden, diff)
				}
			})
		}
	}
	if total == 0 {
		t.Fatal("no traces with golden files under drivers/*/testdata")
	}
}

// TestMain lets the library's subtests overlap more than GOMAXPROCS: they
// spend most of their time waiting on recorded pauses, not computing.
func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		flag.Set("test.parallel", "8")
	}
	os.Exit(m.Run())
}
