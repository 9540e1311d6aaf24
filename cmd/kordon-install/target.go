package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Target describes where an image goes.
type Target struct {
	Path     string
	Block    bool   // a block device (else a regular file)
	Size     int64  // bytes (0 for a file that does not exist yet)
	Name     string // kernel name, e.g. sdb
	Model    string
	Remove   bool // removable medium, per sysfs
	Problems []string
}

// inspectTarget finds out what path is and every reason not to overwrite it.
func inspectTarget(path string) (*Target, error) {
	t := &Target{Path: path}
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return t, nil // a new image file
	}
	if err != nil {
		return nil, err
	}
	switch {
	case fi.Mode().IsRegular():
		t.Size = fi.Size()
		if fi.Size() > 0 {
			if mnt := fileMountedAsLoop(path); mnt != "" {
				t.Problems = append(t.Problems, mnt)
			}
		}
		return t, nil
	case fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0:
	default:
		return nil, fmt.Errorf("%s is neither a block device nor a regular file", path)
	}
	t.Block = true
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, err
	}
	maj, min := unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev))
	sys, err := filepath.EvalSymlinks(fmt.Sprintf("/sys/dev/block/%d:%d", maj, min))
	if err != nil {
		return nil, fmt.Errorf("%s: no sysfs entry: %v", path, err)
	}
	t.Name = filepath.Base(sys)
	if _, err := os.Stat(filepath.Join(sys, "partition")); err == nil {
		t.Problems = append(t.Problems, fmt.Sprintf("%s is a partition, not a whole disk (use /dev/%s)", path, filepath.Base(filepath.Dir(sys))))
	}
	if b, err := os.ReadFile(filepath.Join(sys, "size")); err == nil {
		n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		t.Size = n * 512
	}
	if b, err := os.ReadFile(filepath.Join(sys, "removable")); err == nil {
		t.Remove = strings.TrimSpace(string(b)) == "1"
	}
	if b, err := os.ReadFile(filepath.Join(sys, "device", "model")); err == nil {
		t.Model = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile(filepath.Join(sys, "ro")); err == nil && strings.TrimSpace(string(b)) == "1" {
		t.Problems = append(t.Problems, path+" is read-only (write-protect switch?)")
	}

	// Every block device on this disk: the disk and its partitions.
	devs := map[string]bool{fmt.Sprintf("%d:%d", maj, min): true}
	names := map[string]bool{t.Name: true}
	entries, _ := os.ReadDir(sys)
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join(sys, e.Name(), "dev")); err == nil {
			devs[strings.TrimSpace(string(b))] = true
			names[e.Name()] = true
		}
	}
	// Holders (device-mapper, md, LVM) on top of this disk count as in use.
	for n := range names {
		base := filepath.Join("/sys/class/block", n, "holders")
		if hs, _ := os.ReadDir(base); len(hs) > 0 {
			t.Problems = append(t.Problems, fmt.Sprintf("/dev/%s is in use by %s (LVM, RAID or dm-crypt)", n, hs[0].Name()))
		}
	}
	t.Problems = append(t.Problems, mountedOn(devs)...)
	if f, err := os.Open("/proc/swaps"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			fs := strings.Fields(s.Text())
			if len(fs) > 0 && names[filepath.Base(fs[0])] {
				t.Problems = append(t.Problems, fs[0]+" is in use as swap")
			}
		}
		f.Close()
	}
	return t, nil
}

// systemMounts are the mount points that make a disk "the system disk".
var systemMounts = map[string]bool{"/": true, "/boot": true, "/boot/efi": true, "/usr": true, "/var": true, "/home": true}

// mountedOn lists mounts of the given devices (major:minor), naming system ones.
func mountedOn(devs map[string]bool) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fs := strings.Fields(s.Text())
		if len(fs) < 5 || !devs[fs[2]] {
			continue
		}
		mp := fs[4]
		if systemMounts[mp] {
			out = append(out, fmt.Sprintf("this is a SYSTEM disk: device %s is mounted on %s", fs[2], mp))
		} else {
			out = append(out, fmt.Sprintf("device %s is mounted on %s (unmount it first)", fs[2], mp))
		}
	}
	return out
}

// fileMountedAsLoop reports whether an image file backs a loop device.
func fileMountedAsLoop(path string) string {
	abs, _ := filepath.Abs(path)
	matches, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err == nil && strings.TrimSpace(string(b)) == abs {
			return fmt.Sprintf("%s is attached to /dev/%s (losetup -d it first)", path, filepath.Base(filepath.Dir(filepath.Dir(m))))
		}
	}
	return ""
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d kB", n/1024)
	}
}
