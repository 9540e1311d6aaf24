package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

const sector = 512

// gptHeader is the on-disk GPT header (UEFI spec 5.3.2), first 92 bytes.
type gptHeader struct {
	Signature      [8]byte
	Revision       uint32
	HeaderSize     uint32
	HeaderCRC      uint32
	Reserved       uint32
	MyLBA          uint64
	AlternateLBA   uint64
	FirstUsableLBA uint64
	LastUsableLBA  uint64
	DiskGUID       [16]byte
	EntriesLBA     uint64
	NumEntries     uint32
	EntrySize      uint32
	EntriesCRC     uint32
}

type gptEntry struct {
	TypeGUID   [16]byte
	UniqueGUID [16]byte
	FirstLBA   uint64
	LastLBA    uint64
	Attributes uint64
	Name       [72]byte
}

// Partition is one used GPT entry, in bytes.
type Partition struct {
	Index int // 1-based
	Start int64
	End   int64 // exclusive
}

func (p Partition) Size() int64 { return p.End - p.Start }

// disk is a parsed GPT: header, raw entry array and used partitions.
type disk struct {
	hdr     gptHeader
	entries []byte
	parts   []Partition
}

var errNoGPT = errors.New("no GPT partition table")

func readGPT(r io.ReaderAt) (*disk, error) {
	buf := make([]byte, sector)
	if _, err := r.ReadAt(buf, sector); err != nil {
		return nil, fmt.Errorf("reading GPT header: %w", err)
	}
	var d disk
	if err := binary.Read(bytes.NewReader(buf), binary.LittleEndian, &d.hdr); err != nil {
		return nil, err
	}
	h := d.hdr
	if string(h.Signature[:]) != "EFI PART" {
		return nil, errNoGPT
	}
	if h.HeaderSize < 92 || h.HeaderSize > sector {
		return nil, fmt.Errorf("GPT header size %d", h.HeaderSize)
	}
	hb := append([]byte(nil), buf[:h.HeaderSize]...)
	binary.LittleEndian.PutUint32(hb[16:], 0)
	if crc32.ChecksumIEEE(hb) != h.HeaderCRC {
		return nil, errors.New("GPT header checksum mismatch")
	}
	if h.EntrySize < 128 || h.NumEntries == 0 || h.NumEntries > 1024 {
		return nil, fmt.Errorf("GPT entries: %d of %d bytes", h.NumEntries, h.EntrySize)
	}
	d.entries = make([]byte, int(h.NumEntries)*int(h.EntrySize))
	if _, err := r.ReadAt(d.entries, int64(h.EntriesLBA)*sector); err != nil {
		return nil, fmt.Errorf("reading GPT entries: %w", err)
	}
	if crc32.ChecksumIEEE(d.entries) != h.EntriesCRC {
		return nil, errors.New("GPT entry array checksum mismatch")
	}
	for i := 0; i < int(h.NumEntries); i++ {
		var e gptEntry
		binary.Read(bytes.NewReader(d.entries[i*int(h.EntrySize):]), binary.LittleEndian, &e)
		if e.TypeGUID == [16]byte{} {
			continue
		}
		d.parts = append(d.parts, Partition{Index: i + 1, Start: int64(e.FirstLBA) * sector, End: int64(e.LastLBA+1) * sector})
	}
	return &d, nil
}

// gokrazyLayout checks the image is a gokrazy disk: boot, root A, root B, perm.
func (d *disk) gokrazyLayout() (boot, rootA, rootB, perm Partition, err error) {
	if len(d.parts) != 4 {
		return boot, rootA, rootB, perm, fmt.Errorf("expected 4 partitions (boot, root A, root B, data), found %d", len(d.parts))
	}
	for i, p := range d.parts {
		if p.Index != i+1 || (i > 0 && p.Start < d.parts[i-1].End) {
			return boot, rootA, rootB, perm, errors.New("unexpected partition order")
		}
	}
	return d.parts[0], d.parts[1], d.parts[2], d.parts[3], nil
}

// resized returns the primary GPT (LBA 1 .. entries end) and the backup GPT
// (entries + header, for the last 33 sectors) for a disk of diskBytes with
// the last partition grown to the end of the usable area.
func (d *disk) resized(diskBytes int64) (primary []byte, primaryAt int64, backup []byte, backupAt int64, lastEnd int64, err error) {
	lastLBA := uint64(diskBytes/sector) - 1
	entrySectors := uint64((len(d.entries) + sector - 1) / sector)
	h := d.hdr
	h.AlternateLBA = lastLBA
	h.LastUsableLBA = lastLBA - entrySectors - 1
	entries := append([]byte(nil), d.entries...)
	last := d.parts[len(d.parts)-1]
	off := (last.Index - 1) * int(h.EntrySize)
	first := binary.LittleEndian.Uint64(entries[off+32:])
	if h.LastUsableLBA <= first {
		return nil, 0, nil, 0, 0, fmt.Errorf("disk of %d bytes too small", diskBytes)
	}
	// keep the end 1 MiB aligned
	end := (h.LastUsableLBA+1)/2048*2048 - 1
	if end <= first {
		end = h.LastUsableLBA
	}
	binary.LittleEndian.PutUint64(entries[off+40:], end)
	h.EntriesCRC = crc32.ChecksumIEEE(entries)

	enc := func(h gptHeader) []byte {
		h.HeaderCRC = 0
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, h)
		hb := b.Bytes()[:h.HeaderSize]
		h.HeaderCRC = crc32.ChecksumIEEE(hb)
		b.Reset()
		binary.Write(&b, binary.LittleEndian, h)
		out := make([]byte, sector)
		copy(out, b.Bytes())
		return out
	}
	ph := h
	ph.MyLBA, ph.AlternateLBA = 1, lastLBA
	primary = append(enc(ph), entries...)
	primaryAt = sector
	if int64(h.EntriesLBA) != 2 {
		return nil, 0, nil, 0, 0, fmt.Errorf("GPT entries at LBA %d, expected 2", h.EntriesLBA)
	}
	bh := h
	bh.MyLBA, bh.AlternateLBA = lastLBA, 1
	bh.EntriesLBA = lastLBA - entrySectors
	backup = append(append([]byte(nil), entries...), make([]byte, int(entrySectors)*sector-len(entries))...)
	backup = append(backup, enc(bh)...)
	backupAt = int64(bh.EntriesLBA) * sector
	return primary, primaryAt, backup, backupAt, int64(end+1) * sector, nil
}
