package passport

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	td3 = []string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"}
	td1 = []string{"I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"}
	t0  = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
)

type counts map[string]int

func (c counts) counter() counter { return func(w string, n int) { c[w] += n } }

// feedChunks feeds s cut into pieces of n bytes, 1 ms apart.
func feedChunks(f framer, s []byte, n int) (us []unit) {
	for i := 0; i < len(s); i += n {
		us = f.feed(us, s[i:min(i+n, len(s))], t0.Add(time.Duration(i)*time.Millisecond))
	}
	return us
}

func rowsOf(us []unit) (out [][]string) {
	for _, u := range us {
		out = append(out, u.rows)
	}
	return out
}

// stxBlock and nativeBlock build frames as the traces' generator does.
func stxBlock(rows []string) []byte {
	return []byte("\x02" + strings.Join(rows, "\r") + "\r\x03")
}

func nativeBlock(rows []string, bccOK bool) []byte {
	lines := append(make([]string, 3-len(rows)), rows...)
	var text []byte
	for _, l := range lines {
		text = append(text, l+strings.Repeat("_", 44-len(l))+"\r"...)
	}
	body := append([]byte{'O', 'U', stx, '0'}, text...)
	body = append(body, etx)
	n := len(body)
	b := append([]byte{soh, byte(n), byte(n >> 8)}, body...)
	var bcc byte
	for _, c := range b[1:] {
		bcc ^= c
	}
	if !bccOK {
		bcc ^= 0x5a
	}
	return append(b, bcc)
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
			us := feedChunks(newLineFramer(tc.lineEnd, time.Second, c.counter()), []byte(tc.stream), n)
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
	f := newLineFramer("any", 500*time.Millisecond, c.counter())
	f.feed(nil, []byte(td3[0][:10]), t0)
	if us := f.expire(nil, t0.Add(400*time.Millisecond)); len(us) != 0 || c["bytes_torn"] != 0 {
		t.Fatalf("torn too early: %v", c)
	}
	f.expire(nil, t0.Add(600*time.Millisecond))
	if c["bytes_torn"] != 10 {
		t.Fatalf("torn bytes %v", c)
	}
	// The rest of the torn row arrives late: it is noise, not half a row.
	us := f.feed(nil, []byte(td3[0][10:]+"\r"+td3[1]+"\r"), t0.Add(time.Second))
	if len(us) != 1 || us[0].rows[0] != td3[1] || c["lines_noise"] != 1 {
		t.Errorf("after tear: %q %v", rowsOf(us), c)
	}
}

func TestLineFramerOverlong(t *testing.T) {
	c := counts{}
	f := newLineFramer("any", time.Second, c.counter())
	us := feedChunks(f, []byte(strings.Repeat("A", 300)+"\r"+td3[0]+"\r"), 16)
	if len(us) != 1 || c["bytes_overlong"] != 300 {
		t.Errorf("rows %q counts %v", rowsOf(us), c)
	}
}

func TestSTXFramer(t *testing.T) {
	c := counts{}
	f := newSTXFramer(0x1c, 0x1d, time.Second, c.counter())
	stream := append([]byte("xx\x1c"), stxBlock(td3)...)
	stream = append(stream, 0x1d, 'y')
	stream = append(stream, stxBlock(td1)...)
	for _, n := range []int{1, 5, 500} {
		c = counts{}
		f.count = c.counter()
		us := feedChunks(f, stream, n)
		if !reflect.DeepEqual(rowsOf(us), [][]string{td3, td1}) || c["bytes_noise"] != 3 {
			t.Errorf("%d-byte reads: rows %q counts %v", n, rowsOf(us), c)
		}
		if !us[0].at.Equal(t0.Add(time.Duration(2/n*n) * time.Millisecond)) {
			t.Errorf("%d-byte reads: block 1 at %v, want its start byte's arrival", n, us[0].at.Sub(t0))
		}
	}
}

func TestNativeFramer(t *testing.T) {
	c := counts{}
	f := newNativeFramer(time.Second, c.counter())
	stream := append([]byte{0, 1, 0xff, 0xff}, nativeBlock(td3, true)...)
	stream = append(stream, nativeBlock(td1, false)...)
	stream = append(stream, nativeBlock(td1, true)...)
	for _, n := range []int{1, 9, 1000} {
		c = counts{}
		f.count = c.counter()
		us := feedChunks(f, stream, n)
		if len(us) != 3 || !reflect.DeepEqual(us[0].rows, td3) || us[1].fail != "block_check" || !reflect.DeepEqual(us[2].rows, td1) {
			t.Fatalf("%d-byte reads: %+v", n, us)
		}
		if c["blocks_bad_header"] != 1 || c["bytes_noise"] != 3 {
			t.Errorf("%d-byte reads: counts %v", n, c)
		}
	}
	// Cut short: a sound header makes it a failed read when it tears.
	blk := nativeBlock(td3, true)
	f = newNativeFramer(time.Second, c.counter())
	f.feed(nil, blk[:30], t0)
	us := f.expire(nil, t0.Add(2*time.Second))
	if len(us) != 1 || us[0].fail != "incomplete" {
		t.Errorf("torn block: %+v", us)
	}
}

func TestAssembler(t *testing.T) {
	a := rowAssembler{gap: 500 * time.Millisecond}
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	var ds []doc
	ds = a.add(ds, td1[0], ms(0), ms(30))
	ds = a.add(ds, td1[1], ms(400), ms(430)) // within the gap of row 1's end
	ds = a.add(ds, td3[0], ms(450), ms(490)) // another length: TD1 cut short
	ds = a.add(ds, td3[1], ms(600), ms(640))
	if len(ds) != 2 || ds[0].complete || len(ds[0].rows) != 2 || !ds[1].complete || !ds[1].at.Equal(ms(450)) {
		t.Fatalf("docs %+v", ds)
	}
	ds = a.add(nil, td3[0], ms(2000), ms(2040))
	if ds = a.expire(ds, ms(2500)); len(ds) != 0 {
		t.Fatalf("expired within the gap: %+v", ds)
	}
	if ds = a.expire(ds, ms(2600)); len(ds) != 1 || ds[0].complete || a.pending() {
		t.Fatalf("not expired: %+v", ds)
	}
}

// TestFailureReasonIsBounded: a block of many short rows (the most an STX
// block can hold) gives a reason within the envelope's 512 bytes.
func TestFailureReasonIsBounded(t *testing.T) {
	rows := make([]string, maxBlock)
	for i := range rows {
		rows[i] = "X"
	}
	if _, q := unreadable(rows); len(q.Reason) > 512 {
		t.Errorf("reason is %d bytes", len(q.Reason))
	}
}
