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

// Release advises the kernel to page out the executable's read-only
// mappings (its code and read-only data). MADV_PAGEOUT never discards
// data: a page that was ever written (a relocated read-only page, a
// debugger's breakpoint) is kept or swapped, never reset to the file's
// content, so it is safe on any mapping; a writable mapping is not
// touched anyway. Kernels before 5.4 do not know the advice: an error.
func Release() (Stats, error) {
	var st Stats
	st.Before = rss()
	exe, err := os.Executable()
	if err != nil {
		return st, err
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return st, err
	}
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		// address perms offset dev inode path
		f := strings.Fields(sc.Text())
		if len(f) < 6 || f[5] != exe || strings.ContainsRune(f[1], 'w') {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		a, err1 := strconv.ParseUint(lo, 16, 64)
		b, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || b <= a {
			continue
		}
		if err := madvise(uintptr(a), uintptr(b-a), unix.MADV_PAGEOUT); err != nil {
			return st, fmt.Errorf("madvise %s: %w", f[0], err)
		}
		st.Mappings++
	}
	st.After = rss()
	return st, nil
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
