// Package framingtest builds the frames passport readers send and plays a
// byte stream through a framer the way a reader sends it, for the tests of
// package framing and of the passport driver.
package framingtest

import (
	"strings"
	"time"

	"github.com/kordon/kordon/drivers/passport/framing"
)

// TD3 is the ICAO 9303 specimen passport's MRZ (two rows of 44).
func TD3() []string {
	return []string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"}
}

// TD1 is the ICAO 9303 specimen identity card's MRZ (three rows of 30).
func TD1() []string {
	return []string{"I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"}
}

// Start is when a played stream begins.
func Start() time.Time { return time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC) }

// STXBlock is rows as one STX/ETX block, as the traces' generator
// (testdata/gentraces.py of the driver) writes them.
func STXBlock(rows []string) []byte {
	return []byte("\x02" + strings.Join(rows, "\r") + "\r\x03")
}

// NativeBlock is rows as one 3M-native block; bccOK false corrupts its
// block check byte.
func NativeBlock(rows []string, bccOK bool) []byte {
	lines := append(make([]string, 3-len(rows)), rows...)
	var text []byte
	for _, l := range lines {
		text = append(text, l+strings.Repeat("_", 44-len(l))+"\r"...)
	}
	body := append([]byte{'O', 'U', framing.STX, '0'}, text...)
	body = append(body, framing.ETX)
	n := len(body)
	b := append([]byte{0x01, byte(n), byte(n >> 8)}, body...) // SOH
	var bcc byte
	for _, c := range b[1:] {
		bcc ^= c
	}
	if !bccOK {
		bcc ^= 0x5a
	}
	return append(b, bcc)
}

// Play feeds data to f in chunks of 1..16 bytes (from cut), letting time
// pass between chunks by the chunk's first byte in 10 ms (so idle tears
// happen too), and ends the stream.
func Play(f framing.Framer, data []byte, cut uint8) []framing.Unit {
	n := int(cut%16) + 1
	at := Start()
	var us []framing.Unit
	for i := 0; i < len(data); i += n {
		chunk := data[i:min(i+n, len(data))]
		at = at.Add(time.Duration(chunk[0]) * 10 * time.Millisecond)
		us = f.Expire(us, at)
		us = f.Feed(us, chunk, at)
	}
	return f.End(us)
}
