package main

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// readSquashFile reads one small file from a SquashFS 4.0 image, as the
// firmware build writes them (gokrazy's writer: zlib, no fragments, no
// xattrs). It exists to read the version baked into a root, /etc/kordon/version.
// Hand-written because the Go SquashFS libraries would raise golang.org/x/sys
// and klauspost/compress for the whole module, for ~150 lines of reading.
func readSquashFile(path, name string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := openSquash(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b, err := s.readFile(name, max)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", path, name, err)
	}
	return b, nil
}

type squashSuper struct {
	Magic, Inodes, MkfsTime, BlockSize, Fragments uint32
	Compression, BlockLog, Flags, IDs             uint16
	Major, Minor                                  uint16
	RootInode, BytesUsed                          uint64
	IDTable, XattrTable, InodeTable, DirTable     uint64
	FragTable, ExportTable                        uint64
}

type squash struct {
	r  io.ReaderAt
	sb squashSuper
}

var errSquash = errors.New("not a SquashFS 4.0 image")

func openSquash(r io.ReaderAt) (*squash, error) {
	s := &squash{r: r}
	if err := binary.Read(io.NewSectionReader(r, 0, 96), binary.LittleEndian, &s.sb); err != nil {
		return nil, errSquash
	}
	if s.sb.Magic != 0x73717368 || s.sb.Major != 4 {
		return nil, errSquash
	}
	if s.sb.Compression != 1 {
		return nil, fmt.Errorf("SquashFS compression %d: only zlib (1) is read", s.sb.Compression)
	}
	if s.sb.BlockSize == 0 || s.sb.BlockSize > 1<<20 {
		return nil, fmt.Errorf("SquashFS block size %d: damaged", s.sb.BlockSize)
	}
	return s, nil
}

// meta reads the metadata stream (inodes or directories) from a table's
// block at offset, across block boundaries.
type meta struct {
	s    *squash
	next int64
	buf  []byte
}

func (s *squash) meta(table uint64, block uint32, offset uint16) (*meta, error) {
	m := &meta{s: s, next: int64(table) + int64(block)}
	if err := m.fill(); err != nil {
		return nil, err
	}
	if int(offset) > len(m.buf) {
		return nil, errors.New("metadata offset past its block: damaged")
	}
	m.buf = m.buf[offset:]
	return m, nil
}

func (m *meta) fill() error {
	var h [2]byte
	if _, err := m.s.r.ReadAt(h[:], m.next); err != nil {
		return fmt.Errorf("metadata block: %w", err)
	}
	n := binary.LittleEndian.Uint16(h[:])
	size := int(n & 0x7fff)
	if size == 0 || size > 8192 {
		return errors.New("metadata block size: damaged")
	}
	raw := make([]byte, size)
	if _, err := m.s.r.ReadAt(raw, m.next+2); err != nil {
		return fmt.Errorf("metadata block: %w", err)
	}
	m.next += 2 + int64(size)
	if n&0x8000 == 0 {
		var err error
		if raw, err = inflate(raw, 8192); err != nil {
			return fmt.Errorf("metadata block: %w", err)
		}
	}
	m.buf = append(m.buf, raw...)
	return nil
}

func (m *meta) read(v any) error {
	n := binary.Size(v)
	for len(m.buf) < n {
		if err := m.fill(); err != nil {
			return err
		}
	}
	err := binary.Read(bytes.NewReader(m.buf[:n]), binary.LittleEndian, v)
	m.buf = m.buf[n:]
	return err
}

func (m *meta) bytes(n int) ([]byte, error) {
	b := make([]byte, n)
	return b, m.read(b)
}

func inflate(b []byte, max int64) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(zr, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(out)) > max {
		return nil, errors.New("block inflates past its size: damaged")
	}
	return out, nil
}

type inode struct {
	kind                uint16
	dirBlock, dirSize   uint32
	dirOffset           uint16
	blocksStart, size   uint64
	fragment            uint32
	blockSizes          []uint32
	isDir, isRegularish bool
}

func (s *squash) inode(ref uint64) (*inode, error) {
	m, err := s.meta(s.sb.InodeTable, uint32(ref>>16), uint16(ref))
	if err != nil {
		return nil, err
	}
	var common struct {
		Type, Mode, UID, GID uint16
		MTime, Number        uint32
	}
	if err := m.read(&common); err != nil {
		return nil, err
	}
	in := &inode{kind: common.Type}
	switch common.Type {
	case 1: // basic directory
		var d struct {
			Start, Links   uint32
			Size, Offset   uint16
			ParentInodeNum uint32
		}
		err = m.read(&d)
		in.isDir, in.dirBlock, in.dirSize, in.dirOffset = true, d.Start, uint32(d.Size), d.Offset
	case 8: // extended directory
		var d struct {
			Links, Size, Start, Parent uint32
			Indexes, Offset            uint16
			Xattr                      uint32
		}
		err = m.read(&d)
		in.isDir, in.dirBlock, in.dirSize, in.dirOffset = true, d.Start, d.Size, d.Offset
	case 2: // basic file
		var f struct{ Start, Fragment, FragOffset, Size uint32 }
		err = m.read(&f)
		in.isRegularish, in.blocksStart, in.size, in.fragment = true, uint64(f.Start), uint64(f.Size), f.Fragment
	case 9: // extended file
		var f struct {
			Start, Size, Sparse               uint64
			Links, Fragment, FragOffset, Xatt uint32
		}
		err = m.read(&f)
		in.isRegularish, in.blocksStart, in.size, in.fragment = true, f.Start, f.Size, f.Fragment
	default:
		return in, nil
	}
	if err != nil || !in.isRegularish {
		return in, err
	}
	if in.fragment != 0xffffffff {
		return nil, errors.New("file stored in a fragment: not read here")
	}
	n := (in.size + uint64(s.sb.BlockSize) - 1) / uint64(s.sb.BlockSize)
	if n > 64 {
		return in, nil // larger than anything looked for; blocks not read
	}
	in.blockSizes = make([]uint32, n)
	return in, m.read(in.blockSizes)
}

// lookup finds name in a directory inode.
func (s *squash) lookup(dir *inode, name string) (uint64, error) {
	if dir.dirSize <= 3 {
		return 0, os.ErrNotExist
	}
	m, err := s.meta(s.sb.DirTable, dir.dirBlock, dir.dirOffset)
	if err != nil {
		return 0, err
	}
	for left := int(dir.dirSize) - 3; left > 0; {
		var h struct{ Count, Start, Number uint32 }
		if err := m.read(&h); err != nil {
			return 0, err
		}
		left -= 12
		if h.Count > 255 {
			return 0, errors.New("directory header: damaged")
		}
		for i := uint32(0); i <= h.Count; i++ {
			var e struct {
				Offset   uint16
				Delta    int16
				Type     uint16
				NameSize uint16
			}
			if err := m.read(&e); err != nil {
				return 0, err
			}
			nb, err := m.bytes(int(e.NameSize) + 1)
			if err != nil {
				return 0, err
			}
			left -= 8 + len(nb)
			if string(nb) == name {
				return uint64(h.Start)<<16 | uint64(e.Offset), nil
			}
		}
	}
	return 0, os.ErrNotExist
}

func (s *squash) readFile(name string, max int64) ([]byte, error) {
	in, err := s.inode(s.sb.RootInode)
	if err != nil {
		return nil, err
	}
	for _, part := range strings.Split(strings.Trim(name, "/"), "/") {
		if !in.isDir {
			return nil, os.ErrNotExist
		}
		ref, err := s.lookup(in, part)
		if err != nil {
			return nil, err
		}
		if in, err = s.inode(ref); err != nil {
			return nil, err
		}
	}
	if !in.isRegularish {
		return nil, errors.New("not a regular file")
	}
	if int64(in.size) > max {
		return nil, fmt.Errorf("%d bytes, more than the %d expected", in.size, max)
	}
	var out []byte
	pos := int64(in.blocksStart)
	for _, bs := range in.blockSizes {
		size := int64(bs &^ (1 << 24))
		want := min(int64(s.sb.BlockSize), int64(in.size)-int64(len(out)))
		if size == 0 { // a sparse block
			out = append(out, make([]byte, want)...)
			continue
		}
		raw := make([]byte, size)
		if _, err := s.r.ReadAt(raw, pos); err != nil {
			return nil, err
		}
		pos += size
		if bs&(1<<24) == 0 {
			if raw, err = inflate(raw, int64(s.sb.BlockSize)); err != nil {
				return nil, err
			}
		}
		if int64(len(raw)) < want {
			return nil, errors.New("data block short: damaged")
		}
		out = append(out, raw[:want]...)
	}
	return out, nil
}

// bakedVersion is the version a firmware root was built as.
func bakedVersion(root string) (string, error) {
	b, err := readSquashFile(root, "etc/kordon/version", 256)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
