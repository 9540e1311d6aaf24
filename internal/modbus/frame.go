// Package modbus is a Modbus RTU master for RS-485 buses: CRC-16 framing,
// exception replies, timeouts, retries, the slave's reply delay and the
// silent interval between frames, with one owner of the port so several
// slaves on one bus are asked in turn.
//
// Why not a library: github.com/simonvetter/modbus and github.com/grid-x/modbus
// both open the serial device themselves from a path, so they cannot run
// over the transport.Port a device.Config hands a driver (the port hwtest and
// the golden tests inject); neither tells when the first byte of a reply
// arrived (a reading's origin) nor counts discarded bytes by cause. The RTU
// part a thermometer needs — functions 03 and 04, three reply shapes — is
// small, so it is written here and fuzzed.
package modbus

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Function codes this master speaks.
const (
	ReadHoldingRegisters byte = 0x03
	ReadInputRegisters   byte = 0x04
)

// MaxFrame is the longest RTU frame (address, PDU of at most 253, CRC).
const MaxFrame = 256

// Request asks one slave for a block of registers.
type Request struct {
	Slave    byte   // 1..247; 0 is broadcast, which gets no reply
	Function byte   // ReadHoldingRegisters or ReadInputRegisters
	Address  uint16 // first register (protocol address, from 0)
	Quantity uint16 // 1..125
}

// Validate checks a request can be asked and answered.
func (r Request) Validate() error {
	switch {
	case r.Slave == 0 || r.Slave > 247:
		return fmt.Errorf("slave address %d: want 1 to 247 (0 is broadcast and never answers)", r.Slave)
	case r.Function != ReadHoldingRegisters && r.Function != ReadInputRegisters:
		return fmt.Errorf("function %#02x: want 03 (holding) or 04 (input registers)", r.Function)
	case r.Quantity == 0 || r.Quantity > 125:
		return fmt.Errorf("quantity %d: want 1 to 125 registers", r.Quantity)
	case int(r.Address)+int(r.Quantity) > 0x10000:
		return fmt.Errorf("registers %#04x+%d run past 0xffff", r.Address, r.Quantity)
	}
	return nil
}

// Encode is the request's RTU frame, CRC included.
func (r Request) Encode() []byte {
	b := []byte{r.Slave, r.Function, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(b[2:], r.Address)
	binary.BigEndian.PutUint16(b[4:], r.Quantity)
	return AppendCRC(b)
}

// EncodeReply is a slave's normal reply to r (for simulators and traces).
func (r Request) EncodeReply(regs []uint16) []byte {
	b := []byte{r.Slave, r.Function, byte(2 * len(regs))}
	for _, v := range regs {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return AppendCRC(b)
}

// EncodeException is a slave's exception reply to r.
func (r Request) EncodeException(code byte) []byte {
	return AppendCRC([]byte{r.Slave, r.Function | 0x80, code})
}

// FrameError is a reply that cannot be used: wrong CRC, wrong slave or
// function, wrong length. Kind is a short stable name for counters.
type FrameError struct {
	Kind   string // crc | slave | function | length | short
	Detail string
}

func (e *FrameError) Error() string { return "modbus: bad reply frame (" + e.Kind + "): " + e.Detail }

// ExceptionError is a slave's exception reply.
type ExceptionError struct {
	Slave, Function, Code byte
}

func (e *ExceptionError) Error() string {
	return fmt.Sprintf("modbus: slave %d answered function %02x with exception %02x (%s)", e.Slave, e.Function, e.Code, ExceptionName(e.Code))
}

// Retryable says whether asking again may help: only "acknowledge" and
// "slave busy" are transient; the rest are a wrong configuration or a
// broken device and repeat on every try.
func (e *ExceptionError) Retryable() bool { return e.Code == 0x05 || e.Code == 0x06 }

// ExceptionName names a Modbus exception code.
func ExceptionName(code byte) string {
	switch code {
	case 0x01:
		return "illegal function"
	case 0x02:
		return "illegal data address"
	case 0x03:
		return "illegal data value"
	case 0x04:
		return "slave device failure"
	case 0x05:
		return "acknowledge"
	case 0x06:
		return "slave device busy"
	case 0x08:
		return "memory parity error"
	case 0x0A:
		return "gateway path unavailable"
	case 0x0B:
		return "gateway target failed to respond"
	}
	return "unknown exception"
}

// ErrTimeout is a request that got no reply in time.
var ErrTimeout = errors.New("modbus: no reply")

// ReplyLen is the full length of a reply to r whose first three bytes are
// hdr, known as soon as they have arrived; RTU frames carry no end marker.
func (r Request) ReplyLen(hdr []byte) (int, error) {
	if len(hdr) < 3 {
		return 0, &FrameError{Kind: "short", Detail: fmt.Sprintf("%d bytes", len(hdr))}
	}
	if hdr[0] != r.Slave {
		return 0, &FrameError{Kind: "slave", Detail: fmt.Sprintf("reply from address %d, asked %d", hdr[0], r.Slave)}
	}
	switch hdr[1] {
	case r.Function:
		if int(hdr[2]) != 2*int(r.Quantity) {
			return 0, &FrameError{Kind: "length", Detail: fmt.Sprintf("byte count %d, asked %d registers", hdr[2], r.Quantity)}
		}
		return 5 + int(hdr[2]), nil
	case r.Function | 0x80:
		return 5, nil
	}
	return 0, &FrameError{Kind: "function", Detail: fmt.Sprintf("function %02x, asked %02x", hdr[1], r.Function)}
}

// ParseReply checks a whole reply frame to r and returns its registers, or
// an *ExceptionError or *FrameError. It never panics on any input.
func (r Request) ParseReply(f []byte) ([]uint16, error) {
	n, err := r.ReplyLen(f)
	if err != nil {
		return nil, err
	}
	if len(f) != n {
		return nil, &FrameError{Kind: "length", Detail: fmt.Sprintf("%d bytes, want %d", len(f), n)}
	}
	if !checkCRC(f) {
		return nil, &FrameError{Kind: "crc", Detail: fmt.Sprintf("CRC %02x%02x, computed %04x", f[n-1], f[n-2], CRC16(f[:n-2]))}
	}
	if f[1]&0x80 != 0 {
		return nil, &ExceptionError{Slave: f[0], Function: r.Function, Code: f[2]}
	}
	regs := make([]uint16, r.Quantity)
	for i := range regs {
		regs[i] = binary.BigEndian.Uint16(f[3+2*i:])
	}
	return regs, nil
}
