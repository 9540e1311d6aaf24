package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// A segment file starts with two commit slots of slotLen bytes; records
// follow from dataStart. Every group commit writes the next slot (they
// alternate, so a slot torn by a power cut leaves the other one whole) with
// what the segment then holds: its end of data, its record count and, per
// device, the last sequence number and the count. The slot is flushed by
// the same fdatasync as the records, before any of them is readable, so at
// open the segment must hold at least what its newest whole slot says;
// anything less is taken readings gone (docs/delivery.md).
const (
	slotLen   = 512
	dataStart = 2 * slotLen
	segMagic  = "KOB2"
	readChunk = 32 << 10
)

type segment struct {
	num       uint64
	f         *os.File
	inc       string // the incarnation whose readings it holds
	cap       int64  // file size
	end       int64  // end of the records written
	commit    uint64 // last slot written
	records   int
	dicts     [][]byte          // dict id-1 -> text
	dictIdx   map[string]uint64 // text -> id, for appends (active segment only)
	dictBytes int
	devs      map[string]*segDev
	sealed    bool              // takes no more records
	holes     bool              // damage found at open: skipped by readers, already counted
	claimed   map[string]uint64 // last seq per device its commit slot names (at open)
	gen       int               // bumped when the file is replaced (rewrite)
}

// segDev is one device's records in a segment.
type segDev struct {
	first, last uint64
	count       int
	bytes       int64
	firstOff    int64
	routine     int
}

func segName(dir string, num uint64) string {
	return filepath.Join(dir, fmt.Sprintf("seg-%020d.log", num))
}

func (s *segment) note(dev string, seq uint64, off, n int64, class Class) {
	d := s.devs[dev]
	if d == nil {
		d = &segDev{first: seq, firstOff: off}
		s.devs[dev] = d
	}
	if seq > d.last {
		d.last = seq
	}
	if seq < d.first {
		d.first = seq
	}
	d.count++
	d.bytes += n
	if class == Routine {
		d.routine++
	}
	s.records++
}

// slot is the commit slot's content.
type slot struct {
	num, commit, end uint64
	records          uint64
	inc              string
	complete         bool // devs lists every device
	devs             map[string][2]uint64
}

func (s *segment) slot() []byte {
	p := make([]byte, 0, 256)
	p = binary.AppendUvarint(p, s.num)
	p = binary.AppendUvarint(p, s.commit)
	p = binary.AppendUvarint(p, uint64(s.end))
	p = binary.AppendUvarint(p, uint64(s.records))
	p = append(p, byte(len(s.inc)))
	p = append(p, s.inc...)
	names := make([]string, 0, len(s.devs))
	for n := range s.devs {
		names = append(names, n)
	}
	sort.Strings(names)
	list := binary.AppendUvarint(nil, uint64(len(names)))
	for _, n := range names {
		d := s.devs[n]
		list = append(list, byte(len(n)))
		list = append(list, n...)
		list = binary.AppendUvarint(list, d.last)
		list = binary.AppendUvarint(list, uint64(d.count))
	}
	if 12+len(p)+1+len(list) <= slotLen {
		p = append(p, 1)
		p = append(p, list...)
	} else {
		p = append(p, 0) // too many devices for the slot: the total still proves
	}
	out := make([]byte, 12, 12+len(p))
	copy(out, segMagic)
	binary.LittleEndian.PutUint32(out[4:], crc32.Checksum(p, castagnoli))
	binary.LittleEndian.PutUint32(out[8:], uint32(len(p)))
	return append(out, p...)
}

func parseSlot(b []byte) (slot, bool) {
	var sl slot
	if len(b) < 12 || string(b[:4]) != segMagic {
		return sl, false
	}
	n := int(binary.LittleEndian.Uint32(b[8:]))
	if n > len(b)-12 {
		return sl, false
	}
	p := b[12 : 12+n]
	if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return sl, false
	}
	i := 0
	var ok [4]bool
	sl.num, ok[0] = uvarint(p, &i)
	sl.commit, ok[1] = uvarint(p, &i)
	sl.end, ok[2] = uvarint(p, &i)
	sl.records, ok[3] = uvarint(p, &i)
	if !ok[0] || !ok[1] || !ok[2] || !ok[3] || i >= len(p) || i+1+int(p[i]) >= len(p) {
		return sl, false
	}
	sl.inc = string(p[i+1 : i+1+int(p[i])])
	i += 1 + int(p[i])
	sl.complete = p[i] == 1
	i++
	sl.devs = map[string][2]uint64{}
	if sl.complete {
		nd, okn := uvarint(p, &i)
		if !okn {
			return sl, false
		}
		for range nd {
			if i >= len(p) || i+1+int(p[i]) > len(p) {
				return sl, false
			}
			name := string(p[i+1 : i+1+int(p[i])])
			i += 1 + int(p[i])
			last, ok1 := uvarint(p, &i)
			count, ok2 := uvarint(p, &i)
			if !ok1 || !ok2 {
				return sl, false
			}
			sl.devs[name] = [2]uint64{last, count}
		}
	}
	return sl, true
}

// readSlots returns the newest whole commit slot of f.
func readSlots(f *os.File) (slot, bool) {
	buf := make([]byte, dataStart)
	n, _ := f.ReadAt(buf, 0)
	buf = buf[:n]
	var best slot
	found := false
	for i := 0; i < 2; i++ {
		if len(buf) < (i+1)*slotLen {
			break
		}
		if sl, ok := parseSlot(buf[i*slotLen : (i+1)*slotLen]); ok && (!found || sl.commit > best.commit) {
			best, found = sl, true
		}
	}
	return best, found
}

// reader reads records of one segment in file order through a buffer.
type reader struct {
	s   *segment
	gen int
	off int64 // file offset of buf[0]
	buf []byte
}

// at returns the body of the record at off, and its length on disk.
// Bytes below s.end never change (until a rewrite bumps s.gen), so what
// the buffer holds stays good.
func (r *reader) at(s *segment, off int64) ([]byte, int64, error) {
	if off+recHeader > s.end {
		return nil, 0, errEnd
	}
	want := int64(readChunk)
	for range 3 {
		if r.s == s && r.gen == s.gen && off >= r.off && off+recHeader <= r.off+int64(len(r.buf)) {
			b := r.buf[off-r.off:]
			body, n, err := unframe(b)
			if !errors.Is(err, errShort) {
				return body, int64(n), err
			}
			want = recHeader + int64(binary.LittleEndian.Uint32(b)&0xffffff)
			if off+want > s.end {
				return nil, 0, errShort
			}
		}
		want = min(max(want, readChunk), s.end-off)
		if int64(cap(r.buf)) < want || cap(r.buf) > 4*readChunk {
			r.buf = make([]byte, want)
		}
		n, err := s.f.ReadAt(r.buf[:want], off)
		if err != nil && !errors.Is(err, io.EOF) {
			r.s = nil
			return nil, 0, err
		}
		r.buf = r.buf[:n]
		r.s, r.gen, r.off = s, s.gen, off
	}
	return nil, 0, errShort
}

// scanned is what a scan of a segment file found.
type scanned struct {
	end     int64
	records int
	devs    map[string]*segDev
	dicts   [][]byte
	torn    int64 // bytes of a damaged record where the data stops
	holes   bool  // damaged records skipped
}

// scanFile reads every record of a segment. With resync it steps over
// damaged records (a flipped bit) to the next whole one; without, the data
// ends at the first damaged record (a write cut short by a power cut).
func scanFile(f *os.File, size int64, resync bool) (scanned, error) {
	sc := scanned{devs: map[string]*segDev{}}
	s := &segment{f: f, end: size, devs: sc.devs}
	var r reader
	off := int64(dataStart)
	for off < size {
		body, n, err := r.at(s, off)
		var rec rawRecord
		if err == nil {
			rec, err = decodeRaw(body)
			switch {
			case err != nil:
			case rec.dict && rec.dictID <= uint64(len(s.dicts)):
				err = errBody
			case rec.dict && rec.dictID != uint64(len(s.dicts))+1 && (!resync || rec.dictID > uint64(len(s.dicts))+64):
				err = errBody // a dict record missing (damage), or an id no segment reaches
			case !rec.dict && !rec.resolves(s.dicts):
				err = errBody
			}
		}
		if errors.Is(err, errEnd) {
			break
		}
		if err != nil {
			if _, ok := err.(*os.PathError); ok {
				return sc, err
			}
			if !resync {
				sc.torn = min(size-off, recHeader+maxRecord)
				break
			}
			next := findRecord(&r, s, off+1, size)
			if next < 0 {
				break
			}
			sc.holes = true
			off = next
			continue
		}
		if rec.dict {
			for uint64(len(s.dicts))+1 < rec.dictID {
				s.dicts = append(s.dicts, nil) // lost in a skipped record
			}
			s.dicts = append(s.dicts, append([]byte{}, rec.text...))
		} else {
			dev, _ := rec.deviceOf(s.dicts)
			s.note(string(dev), rec.seq, off, n, rec.class)
		}
		off += n
		sc.end = off
	}
	if sc.end == 0 {
		sc.end = dataStart
	}
	sc.records, sc.dicts = s.records, s.dicts
	return sc, nil
}

// findRecord returns the offset of the next whole record at or after from,
// or -1. Only offsets whose fourth byte is the record magic and whose body
// starts with a record type are tried, so garbage costs a pass over the
// bytes and not a CRC at every offset.
func findRecord(r *reader, s *segment, from, limit int64) int64 {
	buf := make([]byte, readChunk+recHeader+1)
	for pos := from; pos < limit; pos += readChunk {
		n, _ := s.f.ReadAt(buf[:min(int64(len(buf)), limit-pos)], pos)
		if n == 0 {
			return -1
		}
		for i := 0; i < min(n, readChunk); i++ {
			// buf[i] is the magic byte of a candidate starting at pos+i-3.
			cand := pos + int64(i) - 3
			if buf[i] != recMagic || cand < from {
				continue
			}
			if t := i + 5; t < n && buf[t] != byte(Protected) && buf[t] != byte(Routine) && buf[t] != typeDict {
				continue
			}
			if body, _, err := r.at(s, cand); err == nil {
				if rec, err := decodeRaw(body); err == nil && (rec.dict || rec.resolves(s.dicts)) {
					return cand
				}
			}
		}
	}
	return -1
}
