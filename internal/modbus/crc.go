package modbus

// crcTable is CRC-16/MODBUS (reflected polynomial 0xA001, initial 0xFFFF)
// one byte at a time.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA001
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()

// CRC16 is the CRC-16/MODBUS of b.
func CRC16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc = crc>>8 ^ crcTable[byte(crc)^c]
	}
	return crc
}

// AppendCRC appends b's CRC, low byte first as RTU sends it.
func AppendCRC(b []byte) []byte {
	c := CRC16(b)
	return append(b, byte(c), byte(c>>8))
}

// checkCRC reports whether a whole frame ends in the CRC of the rest.
func checkCRC(f []byte) bool {
	if len(f) < 3 {
		return false
	}
	c := CRC16(f[:len(f)-2])
	return f[len(f)-2] == byte(c) && f[len(f)-1] == byte(c>>8)
}
