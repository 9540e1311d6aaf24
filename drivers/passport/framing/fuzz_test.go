package framing_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/passport/framing"
	"github.com/kordon/kordon/drivers/passport/framing/framingtest"
	"github.com/kordon/kordon/drivers/passport/mrzrow"
)

func checkUnits(t *testing.T, us []framing.Unit, c counts) {
	t.Helper()
	for _, u := range us {
		for _, r := range u.Rows {
			if r == "" || strings.ContainsAny(r, "\r\n") {
				t.Fatalf("bad row %q", r)
			}
		}
		if u.Fail == "" && len(u.Rows) == 0 {
			t.Fatalf("empty unit %+v", u)
		}
	}
	for k, v := range c {
		if v <= 0 {
			t.Fatalf("counter %s = %d", k, v)
		}
	}
}

// FuzzLineFramer: no panic; every unit is one MRZ-shaped row; a document
// sent after any noise and a terminator is always found whole.
func FuzzLineFramer(f *testing.F) {
	f.Add([]byte("P<UTO\r\nREADY\n\x00\xff"), uint8(3))
	f.Add([]byte(strings.Repeat("<", 200)), uint8(15))
	f.Add([]byte("\r\r\n\n\r"), uint8(0))
	f.Fuzz(func(t *testing.T, noise []byte, cut uint8) {
		for _, end := range []string{"any", "cr", "lf", "crlf"} {
			term := map[string]string{"any": "\r", "cr": "\r", "lf": "\n", "crlf": "\r\n"}[end]
			c := counts{}
			us := framingtest.Play(framing.NewLine(end, 500*time.Millisecond, c.counter()), noise, cut)
			checkUnits(t, us, c)
			for _, u := range us {
				if len(u.Rows) != 1 || !mrzrow.Plausible([]byte(u.Rows[0])) || u.Block {
					t.Fatalf("%s: unit %+v", end, u)
				}
			}
			// The document after the noise, in one read.
			fr := framing.NewLine(end, 500*time.Millisecond, c.counter())
			framingtest.Play(fr, noise, cut)
			us = fr.Feed(nil, []byte(term+td3[0]+term+td3[1]+term), t0.Add(time.Hour))
			if len(us) < 2 || us[len(us)-2].Rows[0] != td3[0] || us[len(us)-1].Rows[0] != td3[1] {
				t.Fatalf("%s: document after noise lost: %q", end, rowsOf(us))
			}
		}
	})
}

// FuzzSTXFramer: no panic; rows never hold a terminator; a block sent
// after any noise is always found whole.
func FuzzSTXFramer(f *testing.F) {
	f.Add([]byte("\x02P<UTO\r\x03\x1c\x02"), uint8(2))
	f.Add(append([]byte("\x1c"), framingtest.STXBlock(td1)...), uint8(9))
	f.Add([]byte(strings.Repeat("\x02A", 200)), uint8(4))
	f.Fuzz(func(t *testing.T, noise []byte, cut uint8) {
		c := counts{}
		fr := framing.NewSTX(0x1c, 0x1d, 500*time.Millisecond, c.counter())
		us := framingtest.Play(fr, noise, cut)
		checkUnits(t, us, c)
		for _, u := range us {
			if !u.Block {
				t.Fatalf("unit %+v", u)
			}
		}
		fr = framing.NewSTX(0x1c, 0x1d, 500*time.Millisecond, c.counter())
		framingtest.Play(fr, noise, cut)
		us = fr.Feed(nil, framingtest.STXBlock(td3), t0.Add(time.Hour))
		if len(us) == 0 || !reflect.DeepEqual(us[len(us)-1].Rows, td3) {
			t.Fatalf("block after noise lost: %+v", us)
		}
	})
}

// Fuzz3MFramer: no panic; rows hold no CR and no '_' padding at their end;
// a good block after noise and a quiet period is always found.
func Fuzz3MFramer(f *testing.F) {
	f.Add(framingtest.NativeBlock(td3, true), uint8(5))
	f.Add(append([]byte{1, 0x10, 0, 'O', 'U', 2}, framingtest.NativeBlock(td1, false)...), uint8(15))
	f.Add([]byte{1, 1, 1, 1, 0xff, 0}, uint8(0))
	f.Fuzz(func(t *testing.T, noise []byte, cut uint8) {
		c := counts{}
		fr := framing.New3M(500*time.Millisecond, c.counter())
		us := framingtest.Play(fr, noise, cut)
		checkUnits(t, us, c)
		for _, u := range us {
			for _, r := range u.Rows {
				if strings.HasSuffix(r, "_") {
					t.Fatalf("padding left in %q", r)
				}
			}
		}
		// framingtest.Play ended the stream: the framer is hunting again.
		us = fr.Feed(nil, framingtest.NativeBlock(td3, true), t0.Add(time.Hour))
		if len(us) != 1 || !reflect.DeepEqual(us[0].Rows, td3) {
			t.Fatalf("block after noise lost: %+v", us)
		}
	})
}
