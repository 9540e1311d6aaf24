package wirefault

import (
	"bytes"
	"testing"
	"time"

	"github.com/kordon/kordon/hwtest/trace"
)

func sample() *trace.Trace {
	return &trace.Trace{Header: trace.Header{Trace: trace.Version, Driver: "mrz"}, Events: []trace.Event{
		{T: 0, Note: "start"},
		{T: 500 * time.Millisecond, Dev: []byte("ABCDEFGHIJ")},
		{T: 600 * time.Millisecond, Host: []byte("?")},
		{T: 700 * time.Millisecond, Dev: []byte("0123456789")},
	}}
}

func devStream(t *trace.Trace) []byte {
	var b []byte
	for _, e := range t.Events {
		b = append(b, e.Dev...)
	}
	return b
}

func TestCorruptAndDropAcrossEvents(t *testing.T) {
	orig := sample()
	out, err := Apply(orig, []Fault{{Kind: "corrupt", Byte: 9, Count: 2}})
	if err != nil {
		t.Fatal(err)
	}
	got := devStream(out)
	if got[9] != 'J'^0x55 || got[10] != '0'^0x55 || got[8] != 'I' || got[11] != '1' {
		t.Errorf("corrupt: %q", got)
	}
	if !bytes.Equal(devStream(orig), []byte("ABCDEFGHIJ0123456789")) {
		t.Error("Apply changed its input")
	}
	out, err = Apply(orig, []Fault{{Kind: "drop", At: 700 * time.Millisecond, Byte: 0, Count: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(devStream(out)); got != "ABCDEFGHIJ3456789" {
		t.Errorf("drop: %q", got)
	}
	if out.Header.Note != "faults: drop at=700ms byte=0 count=3" {
		t.Errorf("header note %q", out.Header.Note)
	}
}

func TestDelaySplitsTheFrameAndShiftsTheRest(t *testing.T) {
	out, err := Apply(sample(), []Fault{{Kind: "delay", Byte: 4, For: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	e := out.Events
	if string(e[1].Dev) != "ABCD" || string(e[2].Dev) != "EFGHIJ" || e[2].T != 2500*time.Millisecond || e[3].T != 2600*time.Millisecond {
		t.Errorf("delay: %+v", e)
	}
}

func TestUnplugMidFrame(t *testing.T) {
	out, err := Apply(sample(), []Fault{{Kind: "unplug", Byte: 5, For: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range out.Events {
		switch {
		case e.Unplug:
			kinds = append(kinds, "unplug")
		case e.Replug:
			kinds = append(kinds, "replug")
		case e.Dev != nil:
			kinds = append(kinds, string(e.Dev))
		}
	}
	want := []string{"ABCDE", "unplug", "replug", "FGHIJ", "0123456789"}
	if len(kinds) != len(want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("events %v, want %v", kinds, want)
		}
	}
	// For ever: nothing after the unplug.
	out, _ = Apply(sample(), []Fault{{Kind: "unplug", Byte: 5}})
	if last := out.Events[len(out.Events)-1]; !last.Unplug || string(devStream(out)) != "ABCDE" {
		t.Errorf("unplug for ever: %+v", out.Events)
	}
}

func TestStallLosesTheDevicesBytesButKeepsPolls(t *testing.T) {
	out, err := Apply(sample(), []Fault{{Kind: "stall", Byte: 10, For: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	// The stall starts at the second frame (700 ms) and lasts 100 ms: that
	// frame is lost, the host's poll before it stays.
	if got := string(devStream(out)); got != "ABCDEFGHIJ" {
		t.Errorf("stall: %q", got)
	}
	hosts := 0
	for _, e := range out.Events {
		hosts += len(e.Host)
	}
	if hosts != 1 {
		t.Errorf("host poll lost")
	}
}

func TestRateIsRepeatable(t *testing.T) {
	f := Fault{Kind: "corrupt", Rate: 0.3, Seed: 7}
	a, _ := Apply(sample(), []Fault{f})
	b, _ := Apply(sample(), []Fault{f})
	if !bytes.Equal(devStream(a), devStream(b)) || bytes.Equal(devStream(a), devStream(sample())) {
		t.Errorf("rate corrupt: %q vs %q", devStream(a), devStream(b))
	}
}

func TestBadFaultsAreErrors(t *testing.T) {
	for _, s := range []string{"", "melt", "delay byte=1", "unplug rate=0.1", "corrupt byte=x", "drop colour=red", "corrupt byte=-1", "corrupt rate=2"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
	if _, err := Apply(sample(), []Fault{{Kind: "corrupt", Byte: 100}}); err == nil {
		t.Error("a position past the end of the trace was accepted")
	}
	f, err := Parse("unplug at=1s byte=3 for=250ms")
	if err != nil || f.At != time.Second || f.Byte != 3 || f.For != 250*time.Millisecond {
		t.Errorf("Parse: %+v %v", f, err)
	}
}

// FuzzParse: any text gives a fault or an error, never a panic, and a
// parsed fault applies to a trace without panicking.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"unplug byte=30 for=1s", "corrupt rate=0.001 seed=1", "drop at=2s byte=0 count=5", "stall byte=3", "delay byte=1 for=10ms"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		x, err := Parse(s)
		if err != nil {
			return
		}
		Apply(sample(), []Fault{x})
	})
}
