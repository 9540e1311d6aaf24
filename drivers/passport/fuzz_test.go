package passport

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers"
	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/drivers/passport/framing/framingtest"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/schema"
)

// FuzzSession drives every framing's whole path (framer, assembler, MRZ
// decoder, failure readings): no panic, and every reading it emits is a
// valid envelope the hub would accept.
func FuzzSession(f *testing.F) {
	f.Add([]byte(td3[0]+"\r"+td3[1]+"\r"), uint8(7))
	f.Add(framingtest.STXBlock([]string{td3[0], td1[0]}), uint8(3))
	f.Add(framingtest.NativeBlock(td1, true), uint8(11))
	f.Add([]byte(td1[0]+"\n"+td1[1]+"\n\x00"+td1[2]+"\n"), uint8(1))
	v, err := schema.New(drivers.PayloadSchemas())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		for _, framing := range []string{"line", "stx", "3m"} {
			out := drivertest.NewOutput()
			r := &reader{cfg: drivertest.NewConfig(device.Options{}, drivertest.Clock(func() time.Time { return t0 })),
				opts: Options{Framing: framing, LineEnd: "any", RowGap: 500 * time.Millisecond}}
			s := r.newSession(out)
			s.units(framingtest.Play(r.newFramer(out.Count), data, cut))
			s.finish()
			for _, rd := range out.Readings() {
				rd.Crossing, rd.Box, rd.Device, rd.Driver, rd.Seq = "c", "b", "d", "mrz", 1
				b, err := json.Marshal(rd)
				if err != nil {
					t.Fatalf("%s: marshal: %v", framing, err)
				}
				if err := v.Validate(b); err != nil {
					t.Fatalf("%s: reading does not validate: %v\n%s", framing, err, b)
				}
				if rd.Quality.Status == reading.Bad && rd.Quality.Reason == "" {
					t.Fatalf("%s: bad reading without a reason", framing)
				}
				if bytes.Contains([]byte(rd.Quality.Reason), []byte("UTO")) {
					t.Fatalf("%s: reason carries document content: %q", framing, rd.Quality.Reason)
				}
			}
		}
	})
}
