package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// makeImage writes a small gokrazy-shaped disk image: GPT with boot, root A,
// root B and perm, boot and root A filled with data.
func makeImage(t *testing.T, path string) {
	const mib = 1 << 20
	size := int64(160 * mib)
	parts := [][2]int64{{4 * mib, 12 * mib}, {12 * mib, 44 * mib}, {44 * mib, 76 * mib}, {76 * mib, size - mib}}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Truncate(size)
	rnd := rand.New(rand.NewSource(1))
	for _, p := range parts[:2] {
		b := make([]byte, p[1]-p[0]-mib) // leave a zero tail
		rnd.Read(b)
		f.WriteAt(b, p[0])
	}
	entries := make([]byte, 128*128)
	for i, p := range parts {
		e := entries[i*128:]
		e[0] = byte(i + 1) // non-zero type GUID
		e[16] = byte(i + 1)
		binary.LittleEndian.PutUint64(e[32:], uint64(p[0]/512))
		binary.LittleEndian.PutUint64(e[40:], uint64(p[1]/512-1))
	}
	h := gptHeader{Revision: 0x10000, HeaderSize: 92, MyLBA: 1, AlternateLBA: uint64(size/512 - 1),
		FirstUsableLBA: 34, LastUsableLBA: uint64(size/512 - 34), EntriesLBA: 2, NumEntries: 128, EntrySize: 128,
		EntriesCRC: crc32.ChecksumIEEE(entries)}
	copy(h.Signature[:], "EFI PART")
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, h)
	h.HeaderCRC = crc32.ChecksumIEEE(b.Bytes()[:92])
	b.Reset()
	binary.Write(&b, binary.LittleEndian, h)
	f.WriteAt([]byte{0x55, 0xaa}, 510)
	f.WriteAt(b.Bytes(), 512)
	f.WriteAt(entries, 1024)
}

func testImage(t *testing.T) string {
	// The real firmware image when it was built (make image-vm), else a synthetic one.
	if p := os.Getenv("KORDON_TEST_IMAGE"); p != "" {
		return p
	}
	if p, err := filepath.Abs("../../firmware/build/kordon-vm.img"); err == nil {
		if _, err := os.Stat(p); err == nil && !testing.Short() {
			return p
		}
	}
	p := filepath.Join(t.TempDir(), "synthetic.img")
	makeImage(t, p)
	return p
}

func needE2fs(t *testing.T) {
	for _, c := range []string{"mkfs.ext4", "debugfs"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("%s not installed (apt-get install e2fsprogs)", c)
		}
	}
}

func opts(t *testing.T) *options {
	dev := filepath.Join(t.TempDir(), "devices.yaml")
	os.WriteFile(dev, []byte("devices:\n  - id: reader1\n    driver: mrz\n    transport: {type: serial, path: /dev/ttyUSB0}\n"), 0o600)
	o := &options{out: io.Discard, in: strings.NewReader("")}
	o.Crossing, o.Box, o.Hub.Address, o.Hub.Password = "kz-demo", "booth-01", "tcp://10.0.2.100:18830", `p"a:ss word`
	o.DevicesFile = dev
	o.UpdateURL = "http://10.0.2.100:18090/"
	return o
}

func TestFlashVerifyProvisionCycle(t *testing.T) {
	needE2fs(t)
	img := testImage(t)
	target := filepath.Join(t.TempDir(), "box.img")
	os.WriteFile(target, bytes.Repeat([]byte("old"), 1000), 0o644) // an old file gets replaced
	src, _ := os.Open(img)
	defer src.Close()
	fi, _ := src.Stat()
	o := opts(t)
	o.size = fi.Size() + 200<<20 // a bigger "card": the data partition grows
	var log bytes.Buffer
	o.out = &log
	if err := flash(context.Background(), img, target, o); err != nil {
		t.Fatalf("flash: %v\n%s", err, log.String())
	}
	t.Logf("installer output:\n%s", log.String())

	dst, _ := os.Open(target)
	defer dst.Close()
	if st, _ := dst.Stat(); st.Size() != o.size {
		t.Fatalf("target is %d bytes, want %d", st.Size(), o.size)
	}
	d, err := readGPT(dst)
	if err != nil {
		t.Fatalf("partition table of flashed disk: %v", err)
	}
	srcd, _ := readGPT(src)
	_, _, rootB, perm, _ := d.gokrazyLayout()
	if perm.Start != srcd.parts[3].Start || perm.End <= srcd.parts[3].End || perm.End > o.size-33*512 {
		t.Fatalf("data partition %+v, image's %+v", perm, srcd.parts[3])
	}
	// boot + root A byte-identical to the image
	a, b := make([]byte, 1<<20), make([]byte, 1<<20)
	for off := int64(headBytes); off < rootB.Start; off += 1 << 20 {
		src.ReadAt(a, off)
		dst.ReadAt(b, off)
		if !bytes.Equal(a, b) {
			t.Fatalf("flashed disk differs from the image at %d", off)
		}
	}
	// GPT backup at the very end of the disk
	if _, err := readGPTAt(dst, o.size/512-1); err != nil {
		t.Fatalf("backup GPT: %v", err)
	}
	raw, err := readPermFile(target, perm, "/kordon/identity.json")
	if err != nil {
		t.Fatal(err)
	}
	var id Identity
	if err := json.Unmarshal(raw, &id); err != nil {
		t.Fatal(err)
	}
	if id.Box != "booth-01" || id.Hub.Password != `p"a:ss word` || id.Hub.Username != "booth-01" || id.ImageSHA256 == "" {
		t.Fatalf("identity: %+v", id)
	}
	y, err := readPermFile(target, perm, "/kordon/edged.yaml")
	if err != nil || !strings.Contains(string(y), "path: /dev/ttyUSB0") || !strings.Contains(string(y), "state_dir: /perm/kordon/state") {
		t.Fatalf("edged.yaml: %v\n%s", err, y)
	}

	// Re-provision the flashed disk with another identity (--force: it was booth-01).
	o2 := opts(t)
	o2.Box = "booth-02"
	o2.force = true
	if err := cmdProvisionTarget(context.Background(), target, o2); err != nil {
		t.Fatal(err)
	}
	raw, _ = readPermFile(target, perm, "/kordon/identity.json")
	if !strings.Contains(string(raw), `"booth-02"`) {
		t.Fatalf("re-provisioned identity: %s", raw)
	}
}

// readGPTAt reads a GPT header at lba (for the backup copy).
func readGPTAt(r io.ReaderAt, lba int64) (*gptHeader, error) {
	buf := make([]byte, 512)
	if _, err := r.ReadAt(buf, lba*512); err != nil {
		return nil, err
	}
	var h gptHeader
	binary.Read(bytes.NewReader(buf), binary.LittleEndian, &h)
	if string(h.Signature[:]) != "EFI PART" || h.MyLBA != uint64(lba) {
		return nil, errNoGPT
	}
	hb := append([]byte(nil), buf[:h.HeaderSize]...)
	binary.LittleEndian.PutUint32(hb[16:], 0)
	if crc32.ChecksumIEEE(hb) != h.HeaderCRC {
		return nil, errNoGPT
	}
	return &h, nil
}

func TestInterruptedFlashLeavesNothingValid(t *testing.T) {
	needE2fs(t)
	img := testImage(t)
	target := filepath.Join(t.TempDir(), "box.img")
	if err := flash(context.Background(), img, target, opts(t)); err != nil {
		t.Fatal(err)
	}
	// A second flash, interrupted while writing: the previously valid disk
	// must not look valid any more (no partition table, no identity).
	ctx, cancel := context.WithCancel(context.Background())
	o := opts(t)
	o.out = &cancelAfter{n: 3, cancel: cancel}
	err := flash(ctx, img, target, o)
	if err == nil {
		t.Fatal("interrupted flash succeeded")
	}
	f, _ := os.Open(target)
	defer f.Close()
	if _, err := readGPT(f); err == nil {
		t.Fatal("interrupted flash left a valid partition table")
	}
	src, _ := os.Open(img)
	d, _ := readGPT(src)
	if _, err := readPermFile(target, d.parts[3], "/kordon/identity.json"); err == nil {
		t.Fatal("interrupted flash left a readable identity")
	}
}

// cancelAfter cancels after n progress writes.
type cancelAfter struct {
	n      int
	cancel func()
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	if c.n--; c.n <= 0 {
		c.cancel()
	}
	return len(p), nil
}

func TestRefusals(t *testing.T) {
	img := testImage(t)
	dir := t.TempDir()
	// incomplete identity: refused before anything is created
	o := opts(t)
	o.Hub.Password = ""
	target := filepath.Join(dir, "new.img")
	if err := flash(context.Background(), img, target, o); err == nil || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("no credentials: %v", err)
	}
	o = opts(t)
	o.Box = "booth/01"
	if err := flash(context.Background(), img, target, o); err == nil {
		t.Fatal("accepted a box id with a slash")
	}
	if _, err := os.Stat(target); err == nil {
		t.Fatal("a refused run created the target")
	}
	// not an image
	junk := filepath.Join(dir, "junk.img")
	os.WriteFile(junk, make([]byte, 1<<20), 0o644)
	if err := flash(context.Background(), junk, target, opts(t)); err == nil || !strings.Contains(err.Error(), "not a Kordon firmware image") {
		t.Fatalf("junk image: %v", err)
	}
	// image onto itself
	if err := flash(context.Background(), img, img, opts(t)); err == nil {
		t.Fatal("flashed an image onto itself")
	}
}

func TestRefusesSystemDisk(t *testing.T) {
	// Only inspects: finds the disk holding / and checks it is refused.
	disk := rootDisk(t)
	tg, err := inspectTarget(disk)
	if err != nil {
		t.Skipf("cannot inspect %s: %v", disk, err)
	}
	err = checkTarget(tg, &options{out: io.Discard, in: strings.NewReader("")}, "test")
	if err == nil || !strings.Contains(err.Error(), "SYSTEM") {
		t.Fatalf("system disk %s not refused: %v (problems %v)", disk, err, tg.Problems)
	}
	t.Logf("refused %s: %v", disk, err)
}

func rootDisk(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Skip(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		fs := strings.Fields(l)
		if len(fs) > 4 && fs[4] == "/" {
			sys, err := filepath.EvalSymlinks("/sys/dev/block/" + fs[2])
			if err != nil {
				t.Skipf("root is not on a block device (%s)", fs[2])
			}
			if _, err := os.Stat(filepath.Join(sys, "partition")); err == nil {
				sys = filepath.Dir(sys)
			}
			p := "/dev/" + filepath.Base(sys)
			if _, err := os.Stat(p); err != nil {
				t.Skipf("%s: %v", p, err)
			}
			return p
		}
	}
	t.Skip("no / mount")
	return ""
}
