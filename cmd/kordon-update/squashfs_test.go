package main

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeRoot writes a minimal SquashFS 4.0 image holding etc/kordon/version,
// laid out as gokrazy's writer does (uncompressed metadata, zlib data, no
// fragments).
func writeRoot(t testing.TB, path, version string) {
	le := binary.LittleEndian
	var data bytes.Buffer
	zw := zlib.NewWriter(&data)
	zw.Write([]byte(version + "\n"))
	zw.Close()
	const dataAt = 96
	// Directory listings: root -> etc -> kordon -> version.
	var dirs bytes.Buffer
	listing := func(inodeOffset uint16, typ uint16, name string) (offset uint16, size uint32) {
		offset = uint16(dirs.Len())
		binary.Write(&dirs, le, struct{ Count, Start, Number uint32 }{0, 0, 1})
		binary.Write(&dirs, le, struct {
			Offset         uint16
			Delta          int16
			Type, NameSize uint16
		}{inodeOffset, 1, typ, uint16(len(name) - 1)})
		dirs.WriteString(name)
		return offset, uint32(dirs.Len()-int(offset)) + 3
	}
	rootOff, rootSize := listing(32, 1, "etc")
	etcOff, etcSize := listing(64, 1, "kordon")
	kOff, kSize := listing(96, 2, "version")
	var inodes bytes.Buffer
	dir := func(off uint16, size uint32) {
		binary.Write(&inodes, le, [8]uint16{1, 0o755})
		binary.Write(&inodes, le, struct {
			Start, Links uint32
			Size, Offset uint16
			Parent       uint32
		}{0, 2, uint16(size), off, 1})
	}
	dir(rootOff, rootSize)
	dir(etcOff, etcSize)
	dir(kOff, kSize)
	binary.Write(&inodes, le, [8]uint16{2, 0o644})
	binary.Write(&inodes, le, struct{ Start, Fragment, FragOffset, Size, Block uint32 }{dataAt, 0xffffffff, 0, uint32(len(version) + 1), uint32(data.Len())})
	inodeAt := int64(dataAt + data.Len())
	dirAt := inodeAt + 2 + int64(inodes.Len())
	end := dirAt + 2 + int64(dirs.Len())
	sb := squashSuper{Magic: 0x73717368, Inodes: 4, BlockSize: 128 << 10, Compression: 1, BlockLog: 17, Flags: 1, IDs: 1, Major: 4,
		RootInode: 0, BytesUsed: uint64(end), IDTable: uint64(end), XattrTable: ^uint64(0), InodeTable: uint64(inodeAt),
		DirTable: uint64(dirAt), FragTable: ^uint64(0), ExportTable: ^uint64(0)}
	var img bytes.Buffer
	binary.Write(&img, le, sb)
	img.Write(data.Bytes())
	binary.Write(&img, le, uint16(inodes.Len())|0x8000)
	img.Write(inodes.Bytes())
	binary.Write(&img, le, uint16(dirs.Len())|0x8000)
	img.Write(dirs.Bytes())
	if err := os.WriteFile(path, img.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBakedVersion(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root.squashfs")
	writeRoot(t, root, "1.3.9")
	if v, err := bakedVersion(root); err != nil || v != "1.3.9" {
		t.Fatalf("bakedVersion = %q, %v", v, err)
	}
	junk := filepath.Join(t.TempDir(), "junk")
	os.WriteFile(junk, bytes.Repeat([]byte{0xff}, 4096), 0o644)
	if _, err := bakedVersion(junk); err == nil || !strings.Contains(err.Error(), "not a SquashFS") {
		t.Fatalf("junk: %v", err)
	}
}

// The real roots, when the firmware was built here: each names the version
// its build recorded beside it.
func TestBakedVersionOfBuiltRoots(t *testing.T) {
	roots, _ := filepath.Glob("../../firmware/build/*.root.squashfs")
	more, _ := filepath.Glob("../../firmware/build/test/*.root.squashfs")
	if len(roots)+len(more) == 0 {
		t.Skip("no firmware built (make image-vm)")
	}
	for _, r := range append(roots, more...) {
		want, err := os.ReadFile(r + ".version")
		if err != nil {
			continue
		}
		if got, err := bakedVersion(r); err != nil || got != strings.TrimSpace(string(want)) {
			t.Errorf("%s: %q, %v; its build says %q", r, got, err, want)
		}
	}
}

func FuzzSquash(f *testing.F) {
	dir := f.TempDir()
	root := filepath.Join(dir, "root")
	writeRoot(f, root, "1.0.0")
	b, _ := os.ReadFile(root)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := openSquash(bytes.NewReader(b))
		if err != nil {
			return
		}
		s.readFile("etc/kordon/version", 256)
	})
}

// A release refuses a root built as another version, and writes nothing.
func TestReleaseRefusesRootOfAnotherVersion(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root.squashfs")
	writeRoot(t, root, "1.3.0")
	key := filepath.Join(dir, "release")
	if err := cmdKeygen([]string{"-out", key}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "rel")
	err := cmdRelease([]string{"-key", key + ".key", "-target", "vm", "-version", "1.4.0", "-root", root, "-out", out})
	if err == nil || !strings.Contains(err.Error(), "built as version 1.3.0, not 1.4.0") {
		t.Fatalf("mismatched version: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a refused release created its directory")
	}
	if err := cmdRelease([]string{"-key", key + ".key", "-target", "vm", "-version", "1.3.0", "-root", root, "-out", out}); err != nil {
		t.Fatalf("matching version: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "manifest.json")); err != nil {
		t.Fatal(err)
	}
}
