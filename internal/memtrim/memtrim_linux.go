package memtrim

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Release pages out the executable's read-only mappings (its code and
// read-only data) with MADV_PAGEOUT. Paging out, rather than only
// unmapping (MADV_DONTNEED), matters: the kernel maps file pages in runs
// around each touch, but only pages still in the page cache, so pages
// merely unmapped come straight back with the next touch nearby, while
// pages put out of the cache stay out until they themselves are needed
// (then read again from the file). The kernel pages out only what it can
// without losing data and only pages no other process maps; a mapping
// holding written pages (copy-on-write: a relocated read-only page) is
// left alone anyway. Kernels before 5.4 do not know the advice: an error.
//
// What stays in the page cache still comes back: the kernel maps cached
// pages around each touch (fault-around, 64 KiB), and reads the device's
// read-ahead around each page it must read (8 MiB on some disks). So the
// mappings are also marked random-access (a page read is read alone) and
// the executable's cached pages no mapping holds are dropped (they were
// read for start-up, or by whoever wrote the file); afterwards the pages
// resident are about those the process touches.
func Release() (Stats, error) {
	var st Stats
	st.Before = rss()
	exe, err := os.Executable()
	if err != nil {
		return st, err
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return st, err
	}
	for _, m := range parseSmaps(smaps) {
		if m.path != exe || strings.ContainsRune(m.perms, 'w') || m.anonymous != 0 {
			continue
		}
		for _, advice := range []int{unix.MADV_PAGEOUT, unix.MADV_RANDOM} {
			if err := madvise(m.start, m.end-m.start, advice); err != nil {
				return st, fmt.Errorf("madvise %x-%x: %w", m.start, m.end, err)
			}
		}
		st.Mappings++
	}
	f, err := os.Open(exe)
	if err != nil {
		return st, err
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return st, fmt.Errorf("fadvise %s: %w", exe, err)
	}
	st.After = rss()
	return st, nil
}

type mapping struct {
	start, end uintptr
	perms      string
	path       string
	anonymous  int64 // kB of anonymous (written) pages; -1 if not reported
}

// parseSmaps reads /proc/self/smaps: a header line per mapping
// ("start-end perms offset dev inode path") followed by "Key: value kB"
// lines.
func parseSmaps(b []byte) []mapping {
	var out []mapping
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(f[0], "-"); ok && len(f) >= 5 {
			a, err1 := strconv.ParseUint(lo, 16, 64)
			z, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil && z > a {
				m := mapping{start: uintptr(a), end: uintptr(z), perms: f[1], anonymous: -1}
				if len(f) >= 6 {
					m.path = f[5]
				}
				out = append(out, m)
				continue
			}
		}
		if len(out) > 0 && f[0] == "Anonymous:" && len(f) >= 2 {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				out[len(out)-1].anonymous = kb
			}
		}
	}
	return out
}

func madvise(addr, n uintptr, advice int) error {
	_, _, e := unix.Syscall(unix.SYS_MADVISE, addr, n, uintptr(advice))
	if e != 0 {
		return e
	}
	return nil
}

// rss is the process's resident set in bytes, 0 if unknown.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
