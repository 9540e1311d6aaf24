package passport_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/crossingtest"
)

// TestReaderCasesThroughEdgedAndHub plays the reader cases of this folder
// through a pty into a real edged and hub, in their own time, and checks
// what the hub stored: every reading (documents and failed reads), and no
// document-check-failed alert (rows of different documents are never paired, so no
// document fails its checks).
func TestReaderCasesThroughEdgedAndHub(t *testing.T) {
	if testing.Short() {
		t.Skip("real edged and hub")
	}
	for _, tc := range []struct {
		trace    string
		options  string
		readings int
	}{
		{"line-orphan-rows", `{framing: line}`, 8},
		{"line-overlong-noise", `{framing: line}`, 3},
		{"line-one-line-spaces", `{framing: line}`, 5},
		{"line-trigger-late-boot", `{framing: line, trigger: "R\r"}`, 1},
	} {
		t.Run(tc.trace, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			tr, err := trace.ReadFile(filepath.Join("testdata", "traces", tc.trace+".jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			p, err := replay.OpenPTY(filepath.Join(t.TempDir(), "tty"))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			h := crossingtest.StartHub(t, "booth-02", "pw2")
			rec := crossingtest.Subscribe(t, h)
			crossingtest.StartBox(t, ctx, h, "booth-02", "pw2", `
  - id: reader1
    driver: mrz
    transport: {type: serial, path: `+p.Path+`}
    options: `+tc.options+`
`)
			rec.DeviceUp(t, "booth-02", "reader1")
			go replay.Serial(ctx, tr, p.Device, replay.Options{Speed: 1})
			rec.Wait(t, contract.Readings(crossingtest.Crossing, "booth-02", "reader1"), 30*time.Second, func(m [][]byte) bool { return len(m) == tc.readings })
			c := h.Counters()
			if c.Readings != int64(tc.readings) {
				t.Errorf("hub counters %+v, want %d readings", c, tc.readings)
			}
			// The specimens are expired passports: those alerts are right.
			for _, a := range rec.Alerts(t, int(c.Alerts), 10*time.Second) {
				if a.Rule == "document-check-failed" {
					t.Errorf("alert %+v: a document failed its checks", a)
				}
			}
		})
	}
}
