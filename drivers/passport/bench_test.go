package passport

import (
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/drivers/passport/framing/framingtest"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/keyboard"
)

// Benchmarks: time to cut one TD3 document out of a keyboard wedge's
// reports (the serial framings are benchmarked in package framing, the
// decode in package mrz), then the whole path per document: framing, row
// grouping and MRZ decoding.

func BenchmarkFrameWedge(b *testing.B) {
	presses, _ := keyboard.US().Encode(td3[0] + "\r" + td3[1] + "\r")
	reports := keyboard.Reports(presses)
	rows := keyboard.NewRows(keyboard.US())
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, r := range reports {
			n += len(rows.Feed(r, t0))
		}
		if n != 2 {
			b.Fatal("rows lost")
		}
	}
}

// BenchmarkDocument is one TD3 document from bytes to a reading, per framing.
func BenchmarkDocument(b *testing.B) {
	for _, tc := range []struct {
		framing string
		stream  []byte
	}{
		{"line", []byte(strings.Join(td3, "\r") + "\r")},
		{"stx", framingtest.STXBlock(td3)},
		{"3m", framingtest.NativeBlock(td3, true)},
	} {
		b.Run(tc.framing, func(b *testing.B) {
			out := drivertest.NewOutput()
			r := &reader{cfg: drivertest.NewConfig(device.Options{}, drivertest.Clock(func() time.Time { return t0 })),
				opts: Options{Framing: tc.framing, LineEnd: "any", RowGap: time.Second}}
			s := r.newSession(out)
			f := r.newFramer(nil)
			b.ReportAllocs()
			for b.Loop() {
				out.Reset()
				s.units(f.Feed(nil, tc.stream, t0))
				if n := out.NumReadings(); n != 1 {
					b.Fatalf("%d readings", n)
				}
			}
		})
	}
}
