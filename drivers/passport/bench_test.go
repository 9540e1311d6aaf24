package passport

import (
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/keyboard"
)

// Framing benchmarks: time to cut one TD3 document out of its byte stream
// (the decode itself is benchmarked in package mrz), then the whole path
// per document: framing, row grouping and MRZ decoding.

func benchFramer(b *testing.B, mk func() framer, stream []byte) {
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	f := mk()
	for b.Loop() {
		if us := f.feed(nil, stream, t0); len(us) == 0 {
			b.Fatal("no unit")
		}
	}
}

func BenchmarkFrameLine(b *testing.B) {
	benchFramer(b, func() framer { return newLineFramer("any", time.Second, nil) }, []byte(strings.Join(td3, "\r\n")+"\r\n"))
}

func BenchmarkFrameSTX(b *testing.B) {
	benchFramer(b, func() framer { return newSTXFramer(0x1c, 0x1d, time.Second, nil) }, stxBlock(td3))
}

func BenchmarkFrame3M(b *testing.B) {
	benchFramer(b, func() framer { return newNativeFramer(time.Second, nil) }, nativeBlock(td3, true))
}

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
		{"stx", stxBlock(td3)},
		{"3m", nativeBlock(td3, true)},
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
				s.units(f.feed(nil, tc.stream, t0))
				if n := out.NumReadings(); n != 1 {
					b.Fatalf("%d readings", n)
				}
			}
		})
	}
}
