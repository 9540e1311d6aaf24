package passport

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/schema"
)

// play feeds data to f in chunks of 1..16 bytes (from cut), letting time
// pass between chunks by the chunk's first byte in ms (so idle tears
// happen too), and ends the stream.
func play(f framer, data []byte, cut uint8) []unit {
	n := int(cut%16) + 1
	at := t0
	var us []unit
	for i := 0; i < len(data); i += n {
		chunk := data[i:min(i+n, len(data))]
		at = at.Add(time.Duration(chunk[0]) * 10 * time.Millisecond)
		us = f.expire(us, at)
		us = f.feed(us, chunk, at)
	}
	return f.end(us)
}

func checkUnits(t *testing.T, us []unit, c counts) {
	t.Helper()
	for _, u := range us {
		for _, r := range u.rows {
			if r == "" || strings.ContainsAny(r, "\r\n") {
				t.Fatalf("bad row %q", r)
			}
		}
		if u.fail == "" && len(u.rows) == 0 {
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
			us := play(newLineFramer(end, 500*time.Millisecond, c.counter()), noise, cut)
			checkUnits(t, us, c)
			for _, u := range us {
				if len(u.rows) != 1 || !mrzRow([]byte(u.rows[0])) || u.block {
					t.Fatalf("%s: unit %+v", end, u)
				}
			}
			// The document after the noise, in one read.
			fr := newLineFramer(end, 500*time.Millisecond, c.counter())
			play(fr, noise, cut)
			us = fr.feed(nil, []byte(term+td3[0]+term+td3[1]+term), t0.Add(time.Hour))
			if len(us) < 2 || us[len(us)-2].rows[0] != td3[0] || us[len(us)-1].rows[0] != td3[1] {
				t.Fatalf("%s: document after noise lost: %q", end, rowsOf(us))
			}
		}
	})
}

// FuzzSTXFramer: no panic; rows never hold a terminator; a block sent
// after any noise is always found whole.
func FuzzSTXFramer(f *testing.F) {
	f.Add([]byte("\x02P<UTO\r\x03\x1c\x02"), uint8(2))
	f.Add(append([]byte("\x1c"), stxBlock(td1)...), uint8(9))
	f.Add([]byte(strings.Repeat("\x02A", 200)), uint8(4))
	f.Fuzz(func(t *testing.T, noise []byte, cut uint8) {
		c := counts{}
		fr := newSTXFramer(0x1c, 0x1d, 500*time.Millisecond, c.counter())
		us := play(fr, noise, cut)
		checkUnits(t, us, c)
		for _, u := range us {
			if !u.block {
				t.Fatalf("unit %+v", u)
			}
		}
		fr = newSTXFramer(0x1c, 0x1d, 500*time.Millisecond, c.counter())
		play(fr, noise, cut)
		us = fr.feed(nil, stxBlock(td3), t0.Add(time.Hour))
		if len(us) == 0 || !reflect.DeepEqual(us[len(us)-1].rows, td3) {
			t.Fatalf("block after noise lost: %+v", us)
		}
	})
}

// Fuzz3MFramer: no panic; rows hold no CR and no '_' padding at their end;
// a good block after noise and a quiet period is always found.
func Fuzz3MFramer(f *testing.F) {
	f.Add(nativeBlock(td3, true), uint8(5))
	f.Add(append([]byte{1, 0x10, 0, 'O', 'U', 2}, nativeBlock(td1, false)...), uint8(15))
	f.Add([]byte{1, 1, 1, 1, 0xff, 0}, uint8(0))
	f.Fuzz(func(t *testing.T, noise []byte, cut uint8) {
		c := counts{}
		fr := newNativeFramer(500*time.Millisecond, c.counter())
		us := play(fr, noise, cut)
		checkUnits(t, us, c)
		for _, u := range us {
			for _, r := range u.rows {
				if strings.HasSuffix(r, "_") {
					t.Fatalf("padding left in %q", r)
				}
			}
		}
		// play ended the stream: the framer is hunting again.
		us = fr.feed(nil, nativeBlock(td3, true), t0.Add(time.Hour))
		if len(us) != 1 || !reflect.DeepEqual(us[0].rows, td3) {
			t.Fatalf("block after noise lost: %+v", us)
		}
	})
}

// FuzzSession drives every framing's whole path (framer, assembler, MRZ
// decoder, failure readings): no panic, and every reading it emits is a
// valid envelope the hub would accept.
func FuzzSession(f *testing.F) {
	f.Add([]byte(td3[0]+"\r"+td3[1]+"\r"), uint8(7))
	f.Add(stxBlock([]string{td3[0], td1[0]}), uint8(3))
	f.Add(nativeBlock(td1, true), uint8(11))
	f.Add([]byte(td1[0]+"\n"+td1[1]+"\n\x00"+td1[2]+"\n"), uint8(1))
	v, err := schema.New(drivers.PayloadSchemas())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		for _, framing := range []string{"line", "stx", "3m"} {
			out := &fuzzOutput{}
			r := &reader{cfg: device.Config{Clock: func() time.Time { return t0 }},
				opts: Options{Framing: framing, LineEnd: "any", RowGap: 500 * time.Millisecond}}
			s := r.newSession(out)
			s.units(play(r.newFramer(out.Count), data, cut))
			s.finish()
			for _, rd := range out.readings {
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

type fuzzOutput struct{ readings []reading.Reading }

func (o *fuzzOutput) Emit(r reading.Reading) error { o.readings = append(o.readings, r); return nil }
func (o *fuzzOutput) Up()                          {}
func (o *fuzzOutput) Down(device.Reason, string)   {}
func (o *fuzzOutput) Count(string, int)            {}
