package framing_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/passport/framing"
	"github.com/kordon/kordon/drivers/passport/framing/framingtest"
)

// Framing benchmarks: time to cut one TD3 document out of its byte stream.

func benchFramer(b *testing.B, mk func() framing.Framer, stream []byte) {
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	f := mk()
	for b.Loop() {
		if us := f.Feed(nil, stream, t0); len(us) == 0 {
			b.Fatal("no unit")
		}
	}
}

func BenchmarkFrameLine(b *testing.B) {
	benchFramer(b, func() framing.Framer { return framing.NewLine("any", time.Second, nil) }, []byte(strings.Join(td3, "\r\n")+"\r\n"))
}

func BenchmarkFrameSTX(b *testing.B) {
	benchFramer(b, func() framing.Framer { return framing.NewSTX(0x1c, 0x1d, time.Second, nil) }, framingtest.STXBlock(td3))
}

func BenchmarkFrame3M(b *testing.B) {
	benchFramer(b, func() framing.Framer { return framing.New3M(time.Second, nil) }, framingtest.NativeBlock(td3, true))
}
