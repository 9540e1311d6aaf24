package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const chunk = 4 << 20

// progress draws a one-line bar on a terminal, or a line every 10% otherwise.
type progress struct {
	w       io.Writer
	tty     bool
	label   string
	total   int64
	done    int64
	start   time.Time
	lastPct int
	lastAt  time.Time
}

func newProgress(w io.Writer, label string, total int64) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		tty = err == nil
	}
	return &progress{w: w, tty: tty, label: label, total: total, start: time.Now(), lastPct: -1}
}

func (p *progress) add(n int64) {
	p.done += n
	pct := 100
	if p.total > 0 {
		pct = int(p.done * 100 / p.total)
	}
	el := time.Since(p.start).Seconds()
	rate := float64(p.done) / (1 << 20) / max(el, 0.001)
	if p.tty {
		if time.Since(p.lastAt) < 100*time.Millisecond && p.done < p.total {
			return
		}
		p.lastAt = time.Now()
		bar := strings.Repeat("#", pct/4) + strings.Repeat(".", 25-pct/4)
		eta := ""
		if rate > 0 && p.done < p.total {
			eta = fmt.Sprintf(" ETA %ds", int(float64(p.total-p.done)/(1<<20)/rate))
		}
		fmt.Fprintf(p.w, "\r%-9s [%s] %3d%% %s/%s %.1f MB/s%s   ", p.label, bar, pct, human(p.done), human(p.total), rate, eta)
		return
	}
	if pct/10 != p.lastPct/10 {
		p.lastPct = pct
		fmt.Fprintf(p.w, "%s: %3d%% (%s of %s, %.1f MB/s)\n", p.label, pct, human(p.done), human(p.total), rate)
	}
}

func (p *progress) finish() {
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

// copyRange copies [start, end) of src to the same offsets of dst. When
// skipZero is set (dst was freshly zeroed), all-zero chunks are skipped.
func copyRange(ctx context.Context, dst, src *os.File, start, end int64, skipZero bool, p *progress) error {
	buf := make([]byte, chunk)
	zero := make([]byte, chunk)
	for off := start; off < end; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := int64(chunk)
		if end-off < n {
			n = end - off
		}
		b := buf[:n]
		if _, err := src.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading image at %d: %w", off, err)
		}
		if !(skipZero && bytes.Equal(b, zero[:n])) {
			if _, err := dst.WriteAt(b, off); err != nil {
				return fmt.Errorf("writing at %s: %w", human(off), err)
			}
		}
		off += n
		p.add(n)
	}
	return nil
}

// verifyRange reads [start, end) back from dst and compares it with src.
func verifyRange(ctx context.Context, dst, src *os.File, start, end int64, p *progress) error {
	a := make([]byte, chunk)
	b := make([]byte, chunk)
	for off := start; off < end; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := int64(chunk)
		if end-off < n {
			n = end - off
		}
		if _, err := src.ReadAt(a[:n], off); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading image at %d: %w", off, err)
		}
		if _, err := dst.ReadAt(b[:n], off); err != nil {
			return fmt.Errorf("reading back at %s: %w", human(off), err)
		}
		if !bytes.Equal(a[:n], b[:n]) {
			for i := range a[:n] {
				if a[i] != b[i] {
					return fmt.Errorf("verify failed: byte at %d differs (wrote %#02x, read %#02x): the medium is faulty or was removed", off+int64(i), a[i], b[i])
				}
			}
		}
		off += n
		p.add(n)
	}
	return nil
}

// flush makes written data durable and drops cached pages, so a read-back
// reads the medium, not memory.
func flush(f *os.File, block bool) error {
	if err := f.Sync(); err != nil {
		return fmt.Errorf("flushing to the medium: %w", err)
	}
	unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	if block {
		unix.IoctlSetInt(int(f.Fd()), unix.BLKFLSBUF, 0)
	}
	return nil
}

func zeroAt(f *os.File, off, n int64) error {
	if off < 0 || n <= 0 {
		return nil
	}
	_, err := f.WriteAt(make([]byte, n), off)
	return err
}
