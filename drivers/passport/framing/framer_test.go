package framing_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/passport/framing"
	"github.com/kordon/kordon/drivers/passport/framing/framingtest"
)

var (
	td3 = framingtest.TD3()
	td1 = framingtest.TD1()
	t0  = framingtest.Start()
)

type counts map[string]int

func (c counts) counter() framing.Counter { return func(w string, n int) { c[w] += n } }

// feedChunks feeds s cut into pieces of n bytes, 1 ms apart.
func feedChunks(f framing.Framer, s []byte, n int) (us []framing.Unit) {
	for i := 0; i < len(s); i += n {
		us = f.Feed(us, s[i:min(i+n, len(s))], t0.Add(time.Duration(i)*time.Millisecond))
	}
	return us
}

func rowsOf(us []framing.Unit) (out [][]string) {
	for _, u := range us {
		out = append(out, u.Rows)
	}
	return out
}

func TestLineFramerTerminators(t *testing.T) {
	for _, tc := range []struct {
		lineEnd, stream string
		want            int
	}{
		{"any", td3[0] + "\r" + td3[1] + "\r", 2},
		{"any", td3[0] + "\n" + td3[1] + "\n", 2},
		{"any", td3[0] + "\r\n" + td3[1] + "\r\n", 2},
		{"cr", td3[0] + "\r" + td3[1] + "\r", 2},
		{"cr", td3[0] + "\n" + td3[1] + "\n", 0}, // LF is not a terminator: one long line, dropped
		{"lf", td3[0] + "\r\n" + td3[1] + "\r\n", 0},
		{"crlf", td3[0] + "\r\n" + td3[1] + "\r\n", 2},
		{"crlf", td3[0] + "\r" + td3[1] + "\r\n", 0},
	} {
		for _, n := range []int{1, 7, 200} { // CR LF split across reads, too
			c := counts{}
			us := feedChunks(framing.NewLine(tc.lineEnd, time.Second, c.counter()), []byte(tc.stream), n)
			if len(us) != tc.want {
				t.Errorf("%s %q in %d-byte reads: %d rows (%v), want %d", tc.lineEnd, tc.stream, n, len(us), c, tc.want)
				continue
			}
			if tc.want == 2 && !reflect.DeepEqual(rowsOf(us), [][]string{{td3[0]}, {td3[1]}}) {
				t.Errorf("%s: rows %q", tc.lineEnd, rowsOf(us))
			}
		}
	}
}

func TestLineFramerTearsQuietPartialRow(t *testing.T) {
	c := counts{}
	f := framing.NewLine("any", 500*time.Millisecond, c.counter())
	f.Feed(nil, []byte(td3[0][:10]), t0)
	if us := f.Expire(nil, t0.Add(400*time.Millisecond)); len(us) != 0 || c["bytes_torn"] != 0 {
		t.Fatalf("torn too early: %v", c)
	}
	f.Expire(nil, t0.Add(600*time.Millisecond))
	if c["bytes_torn"] != 10 {
		t.Fatalf("torn bytes %v", c)
	}
	// The rest of the torn row arrives late: it is noise, not half a row.
	us := f.Feed(nil, []byte(td3[0][10:]+"\r"+td3[1]+"\r"), t0.Add(time.Second))
	if len(us) != 1 || us[0].Rows[0] != td3[1] || c["lines_noise"] != 1 {
		t.Errorf("after tear: %q %v", rowsOf(us), c)
	}
}

func TestLineFramerOverlong(t *testing.T) {
	c := counts{}
	f := framing.NewLine("any", time.Second, c.counter())
	us := feedChunks(f, []byte(strings.Repeat("A", 300)+"\r"+td3[0]+"\r"), 16)
	if len(us) != 1 || c["bytes_overlong"] != 300 {
		t.Errorf("rows %q counts %v", rowsOf(us), c)
	}
}

func TestSTXFramer(t *testing.T) {
	c := counts{}
	// One framer for every read size: its counter counts into the c of the moment.
	f := framing.NewSTX(0x1c, 0x1d, time.Second, func(w string, n int) { c[w] += n })
	stream := append([]byte("xx\x1c"), framingtest.STXBlock(td3)...)
	stream = append(stream, 0x1d, 'y')
	stream = append(stream, framingtest.STXBlock(td1)...)
	for _, n := range []int{1, 5, 500} {
		c = counts{}
		us := feedChunks(f, stream, n)
		if !reflect.DeepEqual(rowsOf(us), [][]string{td3, td1}) || c["bytes_noise"] != 3 {
			t.Errorf("%d-byte reads: rows %q counts %v", n, rowsOf(us), c)
		}
		if !us[0].At.Equal(t0.Add(time.Duration(2/n*n) * time.Millisecond)) {
			t.Errorf("%d-byte reads: block 1 at %v, want its start byte's arrival", n, us[0].At.Sub(t0))
		}
	}
}

func TestNativeFramer(t *testing.T) {
	c := counts{}
	f := framing.New3M(time.Second, func(w string, n int) { c[w] += n })
	stream := append([]byte{0, 1, 0xff, 0xff}, framingtest.NativeBlock(td3, true)...)
	stream = append(stream, framingtest.NativeBlock(td1, false)...)
	stream = append(stream, framingtest.NativeBlock(td1, true)...)
	for _, n := range []int{1, 9, 1000} {
		c = counts{}
		us := feedChunks(f, stream, n)
		if len(us) != 3 || !reflect.DeepEqual(us[0].Rows, td3) || us[1].Fail != "block_check" || !reflect.DeepEqual(us[2].Rows, td1) {
			t.Fatalf("%d-byte reads: %+v", n, us)
		}
		if c["blocks_bad_header"] != 1 || c["bytes_noise"] != 3 {
			t.Errorf("%d-byte reads: counts %v", n, c)
		}
	}
	// Cut short: a sound header makes it a failed read when it tears.
	blk := framingtest.NativeBlock(td3, true)
	f = framing.New3M(time.Second, c.counter())
	f.Feed(nil, blk[:30], t0)
	us := f.Expire(nil, t0.Add(2*time.Second))
	if len(us) != 1 || us[0].Fail != "incomplete" {
		t.Errorf("torn block: %+v", us)
	}
}
