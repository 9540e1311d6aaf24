package passport_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/kordon/kordon/e2e/stationtest"
	"github.com/kordon/kordon/hwtest/replay"
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
			s := stationtest.TraceStation{Box: "booth-02", Device: "reader1", Driver: "mrz", Options: tc.options,
				Trace: filepath.Join("testdata", "traces", tc.trace+".jsonl")}.Start(t, ctx)
			s.Dev.Play(ctx, replay.Options{Speed: 1})
			s.Readings(t, tc.readings, 30*time.Second)
			c := s.Hub.Counters()
			if c.Readings != int64(tc.readings) {
				t.Errorf("hub counters %+v, want %d readings", c, tc.readings)
			}
			// The specimens are expired passports: those alerts are right.
			for _, a := range s.Rec.Alerts(t, int(c.Alerts), 10*time.Second) {
				if a.Rule == "document-check-failed" {
					t.Errorf("alert %+v: a document failed its checks", a)
				}
			}
		})
	}
}
