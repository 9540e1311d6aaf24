package thermometer_test

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/thermometer/screening"
	"github.com/kordon/kordon/e2e/stationtest"
	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/contract"
)

// TestFeverKeptAcrossEdgedRestart plays the fever trace into edged, stops
// edged mid-fever once the hub has raised the fever alert, and starts a new
// edged on the same state dir for the rest of the trace: the fever goes on
// without a second onset, the hub still holds exactly one fever alert, and
// the recovery clears it.
func TestFeverKeptAcrossEdgedRestart(t *testing.T) {
	tr, err := trace.ReadFile("testdata/traces/calex-fever.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	// Every poll cycle starts with the same request; the restart falls on
	// the fourth cycle of the eight feverish ones (onset is on the second).
	var cycles []int
	feverFrom := -1
	for i, e := range tr.Events {
		if e.Note == "feverish traveller steps up" {
			feverFrom = len(cycles)
		}
		if e.Host != nil && bytes.Equal(e.Host, firstHost(tr)) {
			cycles = append(cycles, i)
		}
	}
	if feverFrom < 0 || feverFrom+3 >= len(cycles) {
		t.Fatal("the fever trace has no feverish traveller of four cycles")
	}
	gate := cycles[feverFrom+3]

	// A long reply timeout: the first edged sends the gated cycle's poll and
	// waits for its answer while the test looks at the hub; with the
	// trace's 400 ms it would report the thermometer as not answering.
	opts := maps.Clone(tr.Header.Options)
	opts["timeout"] = "10s"

	link := filepath.Join(t.TempDir(), "ttyUSB0")
	stateDir := t.TempDir()
	h := stationtest.StartHub(t, map[string]string{"booth-5": "boxpw"})
	w := watch(t, h, contract.Readings(stationtest.Crossing, "booth-5", "thermo1"))

	// First run: the trace up to the gated poll, then hold.
	p1, err := replay.OpenPTY(link)
	if err != nil {
		t.Fatal(err)
	}
	ctx1, cancel1 := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel1(); p1.Device.Close() })
	held := make(chan struct{})
	replayed := make(chan struct{})
	go func() {
		defer close(replayed)
		replay.Serial(ctx1, tr, p1.Device, replay.Options{OnWait: func(i int, _ trace.Event) {
			if i == gate {
				close(held)
				<-ctx1.Done()
			}
		}})
	}()
	stop1 := runBox(t, h, "booth-5", "boxpw", "thermo1", link, stateDir, opts)
	w.until(t, 30*time.Second, hasEvent(screening.EventFeverOnset))
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("edged never polled the cycle after the onset")
	}
	if n := feverAlerts(t, h); len(n) != 1 {
		t.Fatalf("%d fever alerts before the restart, want 1: %+v", len(n), n)
	}
	stop1()
	if _, err := os.Stat(filepath.Join(stateDir, "devices", "thermo1", "fever.json")); err != nil {
		t.Fatalf("no fever state kept in the device's state dir: %v", err)
	}

	// Second run: a fresh line (the old one may still hold the first
	// edged's unanswered poll) and a new edged on the same state dir plays
	// the rest of the fever and the recovery.
	cancel1()
	<-replayed
	p1.Close()
	p2, err := replay.OpenPTY(link)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p2.Close() })
	rest := &trace.Trace{Header: tr.Header, Events: tr.Events[gate:]}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go replay.Serial(ctx2, rest, p2.Device, replay.Options{})
	runBox(t, h, "booth-5", "boxpw", "thermo1", link, stateDir, opts)

	rs := w.until(t, 30*time.Second, hasEvent(screening.EventFeverCleared))
	// Each edged run's first reading says so (cause "first"): the second
	// run's one must already be feverish, with no onset of its own.
	onsets, firsts := 0, 0
	for _, r := range rs {
		if slices.Contains(r.Payload.Events, screening.EventFeverOnset) {
			onsets++
		}
		if r.Payload.Cause == "first" {
			firsts++
			if firsts == 2 && (!r.Payload.Fever || len(r.Payload.Events) != 0) {
				t.Errorf("the restarted edged's first reading, seq %d: fever %v, events %v; want the fever carried on",
					r.Seq, r.Payload.Fever, r.Payload.Events)
			}
		}
		if r.Payload.Fault != "" {
			t.Errorf("fault reading seq %d: %s (%s)", r.Seq, r.Payload.Fault, r.Payload.Detail)
		}
	}
	if firsts != 2 {
		t.Errorf("%d readings of cause first, want 2 (one per edged run)", firsts)
	}
	if onsets != 1 {
		t.Errorf("%d fever onsets across the restart, want 1", onsets)
	}
	fever := feverAlerts(t, h)
	if len(fever) != 1 {
		t.Fatalf("%d fever alerts after the restart, want exactly 1: %+v", len(fever), fever)
	}
	var detail struct {
		Alert struct {
			ClearedAt string `json:"cleared_at"`
		} `json:"alert"`
	}
	dashGet(t, h, "/dash/api/alerts/"+fever[0].ID, &detail)
	if detail.Alert.ClearedAt == "" {
		t.Error("fever alert not cleared by the recovery after the restart")
	}
	t.Logf("%d readings across the restart: %d fever onset(s), %d fever alert(s), cleared by the recovery", len(rs), onsets, len(fever))
}

func firstHost(tr *trace.Trace) []byte {
	for _, e := range tr.Events {
		if e.Host != nil {
			return e.Host
		}
	}
	return nil
}

func feverAlerts(t *testing.T, h *stationtest.Hub) []contract.Alert {
	t.Helper()
	var out []contract.Alert
	for _, a := range alerts(t, h) {
		if a.Rule == "fever" {
			out = append(out, a)
		}
	}
	return out
}
