package tracedetector

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/hwtest/goldentest"
	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/transport"
)

var update = flag.Bool("update", false, "rewrite golden files from the driver's output")

func TestGoldenTraces(t *testing.T) {
	cols := goldentest.Run(t, "testdata", Driver(), goldentest.Options{Update: *update})
	if *update {
		return
	}
	{
		c := cols.Get(t, "alarm")
		rs := c.Readings()
		if len(rs) != 3 {
			t.Fatalf("alarm: %d readings, want 3", len(rs))
		}
		s := rs[0].Payload.(Sample)
		if !s.Alarm || len(s.Substances) != 2 || s.Substances[0] != "TNT" || s.Substances[1] != "RDX" || s.SubstanceList != "TNT, RDX" || *s.Confidence != 0.93 {
			t.Errorf("first alarm %+v", s)
		}
		if rs[2].Payload.(Sample).Alarm {
			t.Error("clear sample marked as alarm")
		}
	}
	// Fields as long as a line allows are cut to the schema's bounds; the
	// readings validate (above), so the hub never refuses them.
	{
		c := cols.Get(t, "long-text")
		rs := c.Readings()
		if len(rs) != 3 {
			t.Fatalf("long-text: %d readings, want 3", len(rs))
		}
		if s := rs[1].Payload.(Sample); len(s.SampleID) > 256 || len(s.Substances) != 4 || len(s.Substances[0]) > 64 {
			t.Errorf("long-text: sample %d bytes, substances %q", len(s.SampleID), s.Substances)
		}
	}
	{
		c := cols.Get(t, "malformed")
		if n := c.Counts()["lines_unmatched"]; n != 3 {
			t.Errorf("malformed: %d unmatched lines, want 3 (noise, SELF TEST, torn)", n)
		}
		rs := c.Readings()
		if len(rs) != 3 {
			t.Fatalf("malformed: %d readings, want 3", len(rs))
		}
		for i, want := range []reading.Status{reading.Suspect, reading.Suspect, reading.OK} {
			if rs[i].Quality.Status != want {
				t.Errorf("malformed reading %d: quality %+v, want %s", i+1, rs[i].Quality, want)
			}
		}
		if s := rs[0].Payload.(Sample); !s.Alarm || s.Confidence != nil || s.SubstanceList != "HMX" {
			t.Errorf("out-of-range confidence: %+v", s)
		}
	}
}

func TestSilenceReportsDown(t *testing.T) {
	p, err := replay.OpenPTY("")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cfg := drivertest.Config(t, "silence: 200ms", drivertest.Transport(transport.Config{Type: "serial", Path: p.Path}))
	dev, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := drivertest.NewOutput()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go dev.Run(ctx, out)
	out.Wait(t, 10*time.Second, "down after silence", func(o *drivertest.Output) bool { return o.Has("down:timeout") })
}

func TestKVProfile(t *testing.T) {
	d, err := New(drivertest.Config(t, "grammar: {profile: trace-kv}"))
	if err != nil {
		t.Fatal(err)
	}
	det := d.(*detector)
	m, err := det.g.Parse("T=1793523900 SAMPLE=42 RESULT=DETECT SUBST=PETN/TATP CONF=0.7")
	if err != nil {
		t.Fatal(err)
	}
	s := det.reading(frameAt(), m).Payload.(Sample)
	if !s.Alarm || s.SubstanceList != "PETN, TATP" || s.DeviceTime == nil || s.DeviceTime.Unix() != 1793523900 {
		t.Errorf("got %+v", s)
	}
}

func TestOptionsAreValidated(t *testing.T) {
	for _, src := range []string{"grammar: {profile: xray-nope}", "silence: -1s", "substance_separators: ''", "colour: red"} {
		if _, err := New(drivertest.Config(t, src)); err == nil {
			t.Errorf("options %q accepted", src)
		}
	}
}
