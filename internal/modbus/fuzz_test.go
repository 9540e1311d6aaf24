package modbus

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParseReply feeds arbitrary bytes to the reply parser as the answer to
// a few requests: it must never panic, and whatever it accepts must be a
// frame it would itself encode.
func FuzzParseReply(f *testing.F) {
	f.Add([]byte{0x01, 0x03, 0x08, 0x01, 0x6d, 0x01, 0x6c, 0x00, 0xfb, 0x00, 0x00, 0, 0})
	f.Add(req1.EncodeReply([]uint16{365, 364, 251, 0}))
	f.Add(req1.EncodeException(2))
	f.Add([]byte{0x01, 0x83})
	f.Add([]byte{})
	reqs := []Request{
		req1,
		{Slave: 1, Function: ReadInputRegisters, Address: 1, Quantity: 2},
		{Slave: 247, Function: ReadHoldingRegisters, Address: 0, Quantity: 125},
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, r := range reqs {
			regs, err := r.ParseReply(b)
			if err == nil {
				if !bytes.Equal(r.EncodeReply(regs), b) {
					t.Fatalf("accepted % x, which re-encodes differently", b)
				}
				continue
			}
			var fe *FrameError
			var ee *ExceptionError
			if !errors.As(err, &fe) && !errors.As(err, &ee) {
				t.Fatalf("untyped error %v", err)
			}
			if n, err := r.ReplyLen(b); err == nil && (n < 5 || n > MaxFrame) {
				t.Fatalf("reply length %d", n)
			}
		}
	})
}
