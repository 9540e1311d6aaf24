package temper

import (
	"errors"
	"math"
	"testing"
)

// FuzzDecodeReport: any report, either scaling, never panics; a decoded
// value is within the int16 range of the scaling, and only 0x4e20 means no
// sensor.
func FuzzDecodeReport(f *testing.F) {
	f.Add([]byte{0x80, 0x80, 0x0E, 0x42, 0x4E, 0x20, 0x00, 0x00})
	f.Add([]byte{0x80, 0x80, 0x4E, 0x20, 0x00, 0x00, 0x00, 0x00})
	f.Add([]byte{0x80, 0x80, 0xF8, 0x30})
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, div := range []int{100, 256} {
			c, err := DecodeReport(b, div)
			switch {
			case len(b) < 4:
				if !errors.Is(err, ErrShort) {
					t.Fatalf("% x: %v, want short", b, err)
				}
			case b[2] == 0x4E && b[3] == 0x20:
				if !errors.Is(err, ErrNoSensor) {
					t.Fatalf("% x: %v, want no sensor", b, err)
				}
			case err != nil:
				t.Fatalf("% x: %v", b, err)
			case math.Abs(c) > 32768.0/float64(div):
				t.Fatalf("% x /%d: %v out of int16 range", b, div, c)
			}
		}
	})
}
