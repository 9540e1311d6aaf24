package outbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strconv"
	"time"
)

// A record on disk: u32 word (magic in the top byte, body length below),
// u32 CRC-32C of the body, body. The magic lets recovery find the next
// record after a damaged one without trying every byte offset.
//
// Bodies:
//
//	dict:   u8 0x40, uvarint id, text
//	data:   u8 class, uvarint device (dict id), uvarint seq, uvarint taken (unix ms), u8 form, ...
//	form 0: envelope JSON as it is
//	form 1: uvarint prefix, u8 has-origin, [varint origin (unix ns)], uvarint middle,
//	        uvarint tail, literal
//
// A form-1 envelope is prefix + seq + [,"origin":"<RFC 3339>"] + middle +
// literal + tail: the parts every reading of a device repeats (schema, crossing,
// box, device, kind, driver, incarnation; clock and quality; the personal-data
// pointers) are written once per segment as dict records, and only what
// changes is written per reading. Append checks that the parts give back the
// envelope byte for byte before it uses them.
const (
	recHeader   = 8
	recMagic    = 0xA5
	maxRecord   = 1 << 20
	typeDict    = 0x40
	formLiteral = 0
	formSplit   = 1
	// Dicts stay in memory while their segment exists: a budget per
	// segment keeps that flat whatever the envelopes look like.
	maxDictBytes = 8 << 10
	maxDictLen   = 1024
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	keySeq      = []byte(`"seq":`)
	keyOrigin   = []byte(`,"origin":"`)
	keyPayload  = []byte(`"payload":`)
	keyPersonal = []byte(`,"personal":[`)
)

// frame appends one framed record (header + body) to dst.
func frame(dst, body []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, recMagic<<24|uint32(len(body)))
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(body, castagnoli))
	return append(dst, body...)
}

var errEnd = errors.New("end of data")

// unframe checks the record at the start of b. It returns the body and the
// record's length on disk; errEnd for a zero word (no more data).
func unframe(b []byte) (body []byte, n int, err error) {
	if len(b) < recHeader {
		return nil, 0, errEnd
	}
	w := binary.LittleEndian.Uint32(b)
	if w == 0 && binary.LittleEndian.Uint32(b[4:]) == 0 {
		return nil, 0, errEnd
	}
	l := int(w & 0xffffff)
	if w>>24 != recMagic || l < 2 || l > maxRecord {
		return nil, 0, errors.New("outbox: bad record header")
	}
	if recHeader+l > len(b) {
		return nil, 0, errShort
	}
	body = b[recHeader : recHeader+l]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, 0, errors.New("outbox: record fails its CRC")
	}
	return body, recHeader + l, nil
}

// errShort: the record runs past the bytes given (the caller reads more).
var errShort = errors.New("outbox: record runs past the buffer")

// rawRecord is a decoded body; parts point into the body.
type rawRecord struct {
	dict   bool
	dictID uint64
	text   []byte // dict text

	class          Class
	dev            uint64
	devName        []byte // device given literally (dev == 0)
	seq, taken     uint64
	form           byte
	pre, mid, tail uint64
	hasOrigin      bool
	origin         int64
	literal        []byte
}

var errBody = errors.New("outbox: malformed record body")

func uvarint(b []byte, p *int) (uint64, bool) {
	v, n := binary.Uvarint(b[*p:])
	if n <= 0 {
		return 0, false
	}
	*p += n
	return v, true
}

func decodeRaw(body []byte) (rawRecord, error) {
	var r rawRecord
	if len(body) < 2 {
		return r, errBody
	}
	p := 1
	var ok bool
	if body[0] == typeDict {
		r.dict = true
		if r.dictID, ok = uvarint(body, &p); !ok || r.dictID == 0 {
			return r, errBody
		}
		r.text = body[p:]
		return r, nil
	}
	if body[0] > byte(Routine) {
		return r, errBody
	}
	r.class = Class(body[0])
	if r.dev, ok = uvarint(body, &p); !ok {
		return r, errBody
	}
	if r.dev == 0 {
		if p >= len(body) || int(body[p]) == 0 || p+1+int(body[p]) > len(body) {
			return r, errBody
		}
		r.devName = body[p+1 : p+1+int(body[p])]
		p += 1 + int(body[p])
	}
	if r.seq, ok = uvarint(body, &p); !ok || r.seq == 0 {
		return r, errBody
	}
	if r.taken, ok = uvarint(body, &p); !ok || p >= len(body) {
		return r, errBody
	}
	r.form = body[p]
	p++
	switch r.form {
	case formLiteral:
	case formSplit:
		if r.pre, ok = uvarint(body, &p); !ok || p >= len(body) {
			return r, errBody
		}
		r.hasOrigin = body[p] == 1
		if body[p] > 1 {
			return r, errBody
		}
		p++
		if r.hasOrigin {
			v, n := binary.Varint(body[p:])
			if n <= 0 {
				return r, errBody
			}
			r.origin, p = v, p+n
		}
		if r.mid, ok = uvarint(body, &p); !ok {
			return r, errBody
		}
		if r.tail, ok = uvarint(body, &p); !ok {
			return r, errBody
		}
	default:
		return r, errBody
	}
	r.literal = body[p:]
	return r, nil
}

// dictText resolves a dict id (0 is the empty text; a nil entry is a dict
// lost to damage).
func dictText(dicts [][]byte, id uint64) ([]byte, bool) {
	if id == 0 {
		return nil, true
	}
	if id > uint64(len(dicts)) || dicts[id-1] == nil {
		return nil, false
	}
	return dicts[id-1], true
}

// resolves reports whether every dict a data record names is known.
func (r *rawRecord) resolves(dicts [][]byte) bool {
	if _, ok := r.deviceOf(dicts); !ok {
		return false
	}
	if r.form == formLiteral {
		return true
	}
	for _, id := range []uint64{r.pre, r.mid, r.tail} {
		if _, ok := dictText(dicts, id); !ok {
			return false
		}
	}
	return true
}

// envelope rebuilds the JSON of a data record.
func (r *rawRecord) envelope(dicts [][]byte, dst []byte) ([]byte, error) {
	if r.form == formLiteral {
		return append(dst, r.literal...), nil
	}
	pre, ok1 := dictText(dicts, r.pre)
	mid, ok2 := dictText(dicts, r.mid)
	tail, ok3 := dictText(dicts, r.tail)
	if !ok1 || !ok2 || !ok3 {
		return nil, errBody
	}
	dst = append(dst, pre...)
	dst = strconv.AppendUint(dst, r.seq, 10)
	if r.hasOrigin {
		dst = append(dst, keyOrigin...)
		dst = time.Unix(0, r.origin).UTC().AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, '"')
	}
	dst = append(dst, mid...)
	dst = append(dst, r.literal...)
	return append(dst, tail...), nil
}

// size is the length of the envelope, so it is built in one allocation.
func (r *rawRecord) size(dicts [][]byte) int {
	if r.form == formLiteral {
		return len(r.literal)
	}
	n := len(r.literal) + 20
	for _, id := range []uint64{r.pre, r.mid, r.tail} {
		d, _ := dictText(dicts, id)
		n += len(d)
	}
	if r.hasOrigin {
		n += len(keyOrigin) + len(time.RFC3339Nano) + 1
	}
	return n
}

// deviceOf names the record's device.
func (r *rawRecord) deviceOf(dicts [][]byte) ([]byte, bool) {
	if r.dev == 0 {
		return r.devName, true
	}
	d, ok := dictText(dicts, r.dev)
	return d, ok && len(d) > 0
}

// parts is an envelope split for form 1.
type parts struct {
	pre, mid, tail, literal []byte
	hasOrigin               bool
	origin                  int64
}

// split finds the parts of an envelope that repeat from reading to reading.
// ok is false when the envelope does not have the usual shape; it is then
// stored as it is.
func split(js []byte, seq uint64) (p parts, ok bool) {
	var num [24]byte
	key := append(append(num[:0], keySeq...), strconv.AppendUint(nil, seq, 10)...)
	i := bytes.Index(js, key)
	if i < 0 {
		return p, false
	}
	j := i + len(key)
	if j < len(js) && js[j] >= '0' && js[j] <= '9' {
		return p, false
	}
	p.pre = js[:i+len(keySeq)]
	rest := js[j:]
	if bytes.HasPrefix(rest, keyOrigin) {
		if k := bytes.IndexByte(rest[len(keyOrigin):], '"'); k > 0 {
			ts := rest[len(keyOrigin) : len(keyOrigin)+k]
			if t, err := time.Parse(time.RFC3339Nano, string(ts)); err == nil && t.Year() > 1700 && t.Year() < 2200 {
				var buf [40]byte
				if bytes.Equal(t.UTC().AppendFormat(buf[:0], time.RFC3339Nano), ts) {
					p.hasOrigin, p.origin = true, t.UnixNano()
					rest = rest[len(keyOrigin)+k+1:]
				}
			}
		}
	}
	if m := bytes.Index(rest, keyPayload); m >= 0 {
		p.mid, rest = rest[:m+len(keyPayload)], rest[m+len(keyPayload):]
	}
	if t := bytes.LastIndex(rest, keyPersonal); t >= 0 {
		p.tail, rest = rest[t:], rest[:t]
	}
	p.literal = rest
	return p, true
}
