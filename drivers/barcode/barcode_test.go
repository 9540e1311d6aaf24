package barcode

import (
	"context"
	"encoding/json"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/hwtest/goldentest"
	"github.com/kordon/kordon/internal/keyboard"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/transport"
	"github.com/kordon/kordon/internal/usbhid"
	"github.com/kordon/kordon/internal/usbhid/usbhidtest"
)

var update = flag.Bool("update", false, "rewrite golden files from the driver's output")

func TestGoldenTraces(t *testing.T) {
	cols := goldentest.Run(t, "testdata", Driver(), goldentest.Options{Update: *update})
	if *update {
		return
	}
	{
		c := cols.Get(t, "invalid")
		rs := c.Readings()
		if len(rs) != 2 {
			t.Fatalf("invalid: %d readings, want MSKU1100810 flagged and CSQU3054383 accepted", len(rs))
		}
		bad, good := rs[0].Payload.(Scan), rs[1].Payload.(Scan)
		if bad.Type != "container" || bad.Container.Valid || rs[0].Quality.Status != reading.Suspect || bad.Code != "MSKU1100810" {
			t.Errorf("MSKU1100810 not flagged: %+v %+v", bad, rs[0].Quality)
		}
		if good.Type != "container" || !good.Container.Valid || rs[1].Quality.Status != reading.OK {
			t.Errorf("CSQU3054383 not accepted: %+v", good)
		}
	}
	// One bad container rescanned: every scan is a reading, all but the
	// first marked repeat; another bad container is not a repeat.
	{
		c := cols.Get(t, "rescan-invalid")
		rs := c.Readings()
		repeats := 0
		for _, r := range rs {
			if r.Payload.(Scan).Repeat {
				repeats++
			}
		}
		if len(rs) != 22 || repeats != 20 || rs[0].Payload.(Scan).Repeat || rs[21].Payload.(Scan).Repeat {
			t.Errorf("rescan-invalid: %d readings, %d repeats; want 22 and 20 (first and last not repeats)", len(rs), repeats)
		}
	}
	// The good code after over-long unterminated noise is read.
	{
		c := cols.Get(t, "overlong-noise")
		rs := c.Readings()
		if len(rs) != 1 || rs[0].Payload.(Scan).Code != "CSQU3054383" || c.Counts()["bytes_overlong"] != 280 {
			t.Errorf("overlong-noise: %d readings, counts %v; want CSQU3054383 and 280 bytes over-long", len(rs), c.Counts())
		}
	}
	{
		c := cols.Get(t, "normal")
		rs := c.Readings()
		if len(rs) != 5 {
			t.Fatalf("normal: %d readings", len(rs))
		}
		types := []string{}
		for _, r := range rs {
			types = append(types, r.Payload.(Scan).Type)
		}
		if strings.Join(types, ",") != "container,container,container,declaration,text" {
			t.Errorf("types %v", types)
		}
		// An untyped code is personal: the envelope says so, so the hub withholds it.
		b, err := json.Marshal(reading.Reading{Crossing: "x", Box: "b", Device: "d", Seq: 1, Payload: rs[4].Payload})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"personal":["/payload/text"]`) || rs[4].Payload.(Scan).Symbology != "ean-upc" {
			t.Errorf("untyped code: %s", b)
		}
	}
	{
		c := cols.Get(t, "malformed")
		n := c.Counts()
		if len(c.Readings()) != 1 || n["bytes_overlong"] == 0 || n["codes_unreadable"] != 2 {
			t.Errorf("malformed: %d readings, counts %v", len(c.Readings()), n)
		}
	}
}

// TestWedge types container numbers as a US-layout keyboard wedge would
// (boot reports through a usbhidtest.Device) and reads them back.
func TestWedge(t *testing.T) {
	hid := usbhidtest.New()
	cfg := drivertest.Config(t, "{framing: wedge, layout: us}",
		drivertest.Transport(transport.Config{Type: "usb", Vendor: "05e0", Product: "1200"}),
		drivertest.HID(func(usbhid.ID) (usbhid.Device, error) { return hid, nil }))
	dev, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := drivertest.NewOutput()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dev.Run(ctx, out) }()
	keys, ok := keyboard.US().Encode("CSQU3054383\nMSKU1100810\n")
	if !ok {
		t.Fatal("cannot encode")
	}
	for _, r := range keyboard.Reports(keys) {
		hid.Push(r)
	}
	out.Wait(t, 10*time.Second, "two codes", func(o *drivertest.Output) bool { return len(o.Readings()) == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	a, b := out.Readings()[0].Payload.(Scan), out.Readings()[1].Payload.(Scan)
	if !a.Container.Valid || b.Container.Valid || b.Code != "MSKU1100810" {
		t.Errorf("wedge codes %+v %+v", a, b)
	}
}

func TestOptionsAreValidated(t *testing.T) {
	for _, src := range []string{"framing: stx", "{framing: wedge, layout: klingon}", "types: [{name: container, pattern: x}]", "types: [{name: a, pattern: '('}]", "silence: -1s", "colour: red"} {
		if _, err := New(drivertest.Config(t, src)); err == nil {
			t.Errorf("options %q accepted", src)
		}
	}
}
