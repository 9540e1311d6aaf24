package passport

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/hwtest/goldentest"
	"github.com/kordon/kordon/hwtest/trace"
)

var update = flag.Bool("update", false, "rewrite golden files from the driver's output")

// TestGoldenTraces replays every trace in testdata/traces into the real
// driver, in the trace's own time (row gaps and torn frames depend on it):
// serial traces through a pseudo-terminal (go.bug.st/serial), USB traces
// through the HID seam. It compares the readings with testdata/golden and
// the discard counters with testdata/counts, then checks what some traces
// exist for.
func TestGoldenTraces(t *testing.T) {
	countsFile := func(name string) string { return filepath.Join("testdata", "counts", name+".json") }
	cols := goldentest.Run(t, "testdata", Driver(), goldentest.Options{Update: *update,
		Pace: &trace.Pace{Speed: 1},
		Check: func(t *testing.T, c goldentest.Case, out *drivertest.Output) {
			checkCounts(t, countsFile(c.Name), out.Counts())
		}})
	if *update {
		for _, name := range cols.Names() {
			if err := writeCounts(countsFile(name), cols.Get(t, name).Counts()); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	checkNoise(t, cols.Get(t, "line-noise-between"))
	checkOrigin(t, cols.Get(t, "line-td3-specimen"))
}

// checkNoise: noise between documents is counted, not fatal.
func checkNoise(t *testing.T, col *drivertest.Output) {
	t.Helper()
	if n := len(col.Readings()); n != 2 {
		t.Fatalf("line-noise-between: got %d readings, want the 2 documents around the noise", n)
	}
	if col.Counts()["lines_noise"] < 2 {
		t.Errorf("line-noise-between: noise lines not counted: %v", col.Counts())
	}
}

// checkOrigin: a reading's origin is the first byte of its document. The
// trace plays in real time: rows 50 ms apart, documents 3 s apart.
func checkOrigin(t *testing.T, col *drivertest.Output) {
	t.Helper()
	rs := col.Readings()
	if len(rs) != 2 {
		t.Fatalf("line-td3-specimen: got %d readings, want 2", len(rs))
	}
	gap := rs[1].Origin.Sub(rs[0].Origin)
	if gap < 2900*time.Millisecond || gap > 3200*time.Millisecond {
		t.Errorf("line-td3-specimen: origin gap %v, want about 3s (first byte of each document)", gap)
	}
}

func TestOptionsAreValidated(t *testing.T) {
	for _, src := range []string{"framing: xml", "row_gap: -1s", "colour: red", "row_gap: soon",
		"line_end: crcr", "framing: stx\nstart_byte: 2", "framing: stx\nend_byte: 300",
		"trigger_every: 5s", "layout: de", "framing: wedge\ntrigger: R",
		"framing: wedge\nlayout: ru", "framing: wedge\nlayout: fr"} {
		if _, err := New(configWith(t, src)); err == nil {
			t.Errorf("options %q accepted", src)
		}
	}
	for _, src := range []string{"framing: line\nline_end: crlf\ntrigger: \"R\\r\"\ntrigger_every: 30s",
		"framing: stx\nstart_byte: 0x1c\nend_byte: 0x1d", "framing: 3m", "framing: wedge\nlayout: de\ninterface: 1"} {
		if _, err := New(configWith(t, src)); err != nil {
			t.Errorf("options %q refused: %v", src, err)
		}
	}
	usb := configWith(t, "framing: line")
	usb.Transport.Type = "usb"
	if _, err := New(usb); err == nil || !strings.Contains(err.Error(), "wedge") {
		t.Errorf("line framing on a USB transport: %v", err)
	}
}

// The discard counters of a golden trace are pinned too: noise that is
// not counted, or counted under another name, is a regression.
func writeCounts(path string, c map[string]int) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func checkCounts(t *testing.T, path string, got map[string]int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return // traces that predate counts files
	}
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("counters %v, want %v (%s)", got, want, path)
	}
}
