// Package outbox is the box's durable queue between drivers and the hub.
// A reading counts as taken once Append has returned: it is on disk
// (fdatasync) and survives kill -9 and a power cut. The publisher reads
// records per device in sequence order and acknowledges them once the hub
// has; the reader never sees a record before it is durable, so a sequence
// number the hub has stored is never reused for another reading.
//
// On disk (one directory, docs/delivery.md):
//
//	seg-<n>.log  segments, preallocated (fallocate) to SegmentBytes, so an
//	             fdatasync flushes the data page and not an inode update
//	             for every record. Records: u32 length, u32 CRC-32C of the
//	             body, body; a zero length ends the segment's data.
//	             body: u8 class, u8 len(device), device, u64 seq,
//	             i64 taken (unix ms), JSON envelope
//	acks         {"device": highest acknowledged seq}, rewritten at most once
//	             a second without fsync (a lost ack only means a resend the
//	             hub drops by (box, device, seq))
//	state.json   sequence high-water marks, acks and loss counters, written
//	             with fsync + rename before any segment is deleted or
//	             rewritten, so sequence numbers keep growing across both
//
// Full policy (Options.MaxBytes): first delete delivered segments, then drop
// undelivered Routine records oldest-first (counted as dropped), and when
// only Protected records fill the bound, refuse the new reading with ErrFull
// (the caller counts and logs it): a Protected reading is never dropped silently.
package outbox

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	headerLen = 8
	maxRecord = 1 << 20
)

// Class says what the full policy may do with a record.
type Class uint8

const (
	// Protected records (document reads, anything that raised or could raise
	// an alert) are never dropped; when they alone fill the outbox a new
	// reading is refused with ErrFull, loudly.
	Protected Class = 0
	// Routine telemetry may be dropped oldest-first when the outbox is full.
	Routine Class = 1
)

func (c Class) String() string {
	if c == Routine {
		return "routine"
	}
	return "protected"
}

// ErrFull is returned by Append when the outbox holds nothing it may drop.
var ErrFull = errors.New("outbox full of undelivered protected readings")

// Options bound the outbox. Zero values take the defaults.
type Options struct {
	MaxBytes     int64 // bound on segment files on disk; default 256 MiB
	SegmentBytes int64 // size of one segment; default 4 MiB (at least 2 records' worth)
	RetainBytes  int64 // delivered segments kept for resend requests; default MaxBytes/16
}

func (o *Options) defaults() {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 256 << 20
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 4 << 20
	}
	if o.SegmentBytes < 2*headerLen+64 {
		o.SegmentBytes = 2*headerLen + 64
	}
	if o.MaxBytes < 2*o.SegmentBytes {
		o.MaxBytes = 2 * o.SegmentBytes
	}
	if o.RetainBytes <= 0 {
		o.RetainBytes = o.MaxBytes / 16
	}
}

// Record is one stored reading as the reader gets it.
type Record struct {
	Device string
	Seq    uint64
	Class  Class
	Taken  time.Time // when Append took it
	JSON   []byte
}

type segment struct {
	num  uint64
	f    *os.File
	size int64 // end of the data
	cap  int64 // bytes on disk (preallocated)
	live int   // records neither acknowledged nor dropped
}

type entry struct {
	seg   *segment
	off   int64
	n     int64 // record length with header
	seq   uint64
	taken int64
	class Class
}

type devq struct {
	entries []entry // retained records, ascending seq
	seq     uint64  // highest taken
	visible uint64  // highest durable (readable)
	acked   uint64  // highest acknowledged by the hub
	next    uint64  // next seq to hand to the reader
}

// Stats are the outbox's counters (also in state.json).
type Stats struct {
	Records     int64            `json:"records"`      // undelivered records
	Bytes       int64            `json:"bytes"`        // undelivered record bytes
	DiskBytes   int64            `json:"disk_bytes"`   // segment files on disk
	Segments    int              `json:"segments"`     //
	Dropped     map[string]int64 `json:"dropped"`      // routine records dropped, by reason
	Refused     int64            `json:"refused"`      // protected readings refused (ErrFull)
	Syncs       int64            `json:"syncs"`        // fdatasync calls
	Appended    int64            `json:"appended"`     // records taken since open
	AppendBytes int64            `json:"append_bytes"` // record bytes written since open
	TornBytes   int64            `json:"torn_bytes"`   // cut from segment tails at open
	Full        bool             `json:"full"`         // the last Append hit the bound
}

// Outbox is safe for concurrent appenders and one reader.
type Outbox struct {
	dir  string
	opts Options

	mu       sync.Mutex
	segs     []*segment // ascending num; the last is the active one
	devs     map[string]*devq
	order    []string // devices in round-robin order
	rr       int
	wake     chan struct{} // closed and replaced whenever records become readable
	stats    Stats
	closed   bool
	acksDirt bool

	// group commit: writes bump gen; one syncer at a time flushes every
	// segment written so far and makes those records visible.
	gen       uint64
	touched   map[*segment]bool
	syncing   map[*segment]bool
	pendVis   []pending
	syncMu    sync.Mutex
	syncedGen uint64

	ackFile *os.File
	stopAck chan struct{}
	ackDone chan struct{}
}

type pending struct {
	dq  *devq
	seq uint64
	gen uint64
}

type stateFile struct {
	Seq     map[string]uint64 `json:"seq"`
	Acked   map[string]uint64 `json:"acked"`
	Dropped map[string]int64  `json:"dropped"`
	Refused int64             `json:"refused"`
}

// Open opens (or creates) the outbox in dir and recovers its state.
func Open(dir string, opts Options) (*Outbox, error) {
	opts.defaults()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	o := &Outbox{
		dir: dir, opts: opts, devs: map[string]*devq{}, wake: make(chan struct{}),
		touched: map[*segment]bool{}, syncing: map[*segment]bool{},
		stopAck: make(chan struct{}), ackDone: make(chan struct{}),
	}
	o.stats.Dropped = map[string]int64{}
	if err := o.recover(); err != nil {
		o.closeFiles()
		return nil, err
	}
	go o.ackLoop()
	return o, nil
}

func (o *Outbox) dq(device string) *devq {
	d := o.devs[device]
	if d == nil {
		d = &devq{next: 1}
		o.devs[device] = d
		o.order = append(o.order, device)
	}
	return d
}

func (o *Outbox) recover() error {
	var st stateFile
	if b, err := os.ReadFile(filepath.Join(o.dir, "state.json")); err == nil {
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("outbox: state.json: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for d, s := range st.Seq {
		o.dq(d).seq = s
	}
	for d, a := range st.Acked {
		o.dq(d).acked = a
	}
	maps(o.stats.Dropped, st.Dropped)
	o.stats.Refused = st.Refused
	// acks is newer than state.json but may be torn (written without
	// fsync): a torn file is ignored, which only means resending.
	if b, err := os.ReadFile(filepath.Join(o.dir, "acks")); err == nil {
		var acks map[string]uint64
		if json.Unmarshal(b, &acks) == nil {
			for d, a := range acks {
				if dq := o.dq(d); a > dq.acked {
					dq.acked = a
				}
			}
		}
	}
	var err error
	if o.ackFile, err = os.OpenFile(filepath.Join(o.dir, "acks"), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return err
	}
	names, err := filepath.Glob(filepath.Join(o.dir, "seg-*.log"))
	if err != nil {
		return err
	}
	sort.Strings(names) // fixed-width numbers sort in order
	for _, name := range names {
		num, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(name), "seg-"), ".log"), 10, 64)
		if err != nil {
			continue
		}
		f, err := os.OpenFile(name, os.O_RDWR, 0o600)
		if err != nil {
			return err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		s := &segment{num: num, f: f, cap: fi.Size()}
		o.segs = append(o.segs, s)
		if err := o.scan(s); err != nil {
			return err
		}
	}
	for _, d := range o.devs {
		d.visible = d.seq
		d.next = d.acked + 1
		if d.next < firstSeq(d) {
			d.next = firstSeq(d)
		}
		for _, e := range d.entries {
			if e.seq > d.acked {
				e.seg.live++
				o.stats.Records++
				o.stats.Bytes += e.n
			}
		}
	}
	o.recount()
	return nil
}

func firstSeq(d *devq) uint64 {
	if len(d.entries) == 0 {
		return d.seq + 1
	}
	return d.entries[0].seq
}

// scan indexes one segment; a torn record at the end of the data (power cut
// mid-write) is zeroed so it can never be mistaken for data later.
func (o *Outbox) scan(s *segment) error {
	var off int64
	for {
		rec, n, err := readAt(s.f, off, s.cap)
		if err != nil {
			if errors.Is(err, errEnd) {
				break
			}
			// Torn or corrupt: the data ends here.
			torn := s.cap - off
			o.stats.TornBytes += torn
			if _, err := s.f.WriteAt(make([]byte, torn), off); err != nil {
				return err
			}
			if err := s.f.Sync(); err != nil {
				return err
			}
			break
		}
		d := o.dq(rec.Device)
		if rec.Seq > d.seq {
			d.seq = rec.Seq
		}
		d.entries = append(d.entries, entry{seg: s, off: off, n: n, seq: rec.Seq, taken: rec.Taken.UnixMilli(), class: rec.Class})
		off += n
	}
	s.size = off
	return nil
}

func maps(dst, src map[string]int64) {
	for k, v := range src {
		dst[k] += v
	}
}

// Append takes a reading for device: it assigns the next sequence number,
// lets build render the envelope with it, and returns once it is on disk.
// Appends running at the same time share one fdatasync (group commit).
func (o *Outbox) Append(device string, class Class, build func(seq uint64) ([]byte, error)) (uint64, error) {
	if len(device) == 0 || len(device) > 255 {
		return 0, fmt.Errorf("outbox: bad device id")
	}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return 0, errors.New("outbox: closed")
	}
	d := o.dq(device)
	seq := d.seq + 1
	js, err := build(seq)
	if err != nil {
		o.mu.Unlock()
		return 0, err
	}
	body := make([]byte, 0, 2+len(device)+16+len(js))
	body = append(body, byte(class), byte(len(device)))
	body = append(body, device...)
	body = binary.BigEndian.AppendUint64(body, seq)
	now := time.Now()
	body = binary.BigEndian.AppendUint64(body, uint64(now.UnixMilli()))
	body = append(body, js...)
	n := int64(headerLen + len(body))
	if len(body) > maxRecord || n > o.opts.SegmentBytes-headerLen {
		o.mu.Unlock()
		return 0, fmt.Errorf("outbox: record of %d bytes exceeds the limit", len(body))
	}
	s, err := o.room(n, class)
	if err != nil {
		o.mu.Unlock()
		return 0, err
	}
	buf := make([]byte, headerLen, n)
	binary.LittleEndian.PutUint32(buf[0:], uint32(len(body)))
	binary.LittleEndian.PutUint32(buf[4:], crc32.Checksum(body, castagnoli))
	buf = append(buf, body...)
	if _, err := s.f.WriteAt(buf, s.size); err != nil {
		// The sequence number is not reused: the bytes may be on disk.
		d.seq = seq
		o.mu.Unlock()
		return 0, fmt.Errorf("outbox: write: %w", err)
	}
	d.entries = append(d.entries, entry{seg: s, off: s.size, n: n, seq: seq, taken: now.UnixMilli(), class: class})
	d.seq = seq
	s.size += n
	s.live++
	o.stats.Records++
	o.stats.Bytes += n
	o.stats.Appended++
	o.stats.AppendBytes += n
	o.stats.Full = false
	o.gen++
	gen := o.gen
	o.touched[s] = true
	o.pendVis = append(o.pendVis, pending{dq: d, seq: seq, gen: gen})
	o.mu.Unlock()
	if err := o.syncTo(gen); err != nil {
		return 0, err
	}
	return seq, nil
}

// syncTo returns once every write up to gen is on disk. The first caller
// in flushes for everyone who wrote before it started.
func (o *Outbox) syncTo(gen uint64) error {
	o.syncMu.Lock()
	defer o.syncMu.Unlock()
	if o.syncedGen >= gen {
		return nil
	}
	o.mu.Lock()
	target := o.gen
	segs := make([]*segment, 0, len(o.touched))
	for s := range o.touched {
		segs = append(segs, s)
		o.syncing[s] = true
	}
	clear(o.touched)
	o.mu.Unlock()
	var err error
	for _, s := range segs {
		if e := syscall.Fdatasync(int(s.f.Fd())); e != nil && err == nil {
			err = fmt.Errorf("outbox: fdatasync: %w", e)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range segs {
		delete(o.syncing, s)
	}
	o.stats.Syncs++
	if err != nil {
		// Readers must not see what may not be on disk; the records stay
		// unreadable until a later sync succeeds.
		for _, s := range segs {
			o.touched[s] = true
		}
		return err
	}
	o.syncedGen = target
	keep := o.pendVis[:0]
	for _, p := range o.pendVis {
		if p.gen <= target {
			if p.seq > p.dq.visible {
				p.dq.visible = p.seq
			}
		} else {
			keep = append(keep, p)
		}
	}
	o.pendVis = keep
	close(o.wake)
	o.wake = make(chan struct{})
	return nil
}

// room returns the segment a record of n bytes goes into, making space
// under the bound first. Called with o.mu held.
func (o *Outbox) room(n int64, class Class) (*segment, error) {
	var active *segment
	if len(o.segs) > 0 {
		active = o.segs[len(o.segs)-1]
	}
	if active != nil && active.size+n+headerLen <= active.cap {
		return active, nil
	}
	// A new segment is needed: make room for it under the bound.
	for o.stats.DiskBytes+o.opts.SegmentBytes > o.opts.MaxBytes {
		if !o.reclaim() {
			o.stats.Full = true
			// Loss is made durable at once: counters must survive a restart.
			if class == Routine {
				o.stats.Dropped["full"]++
				o.saveState()
				return nil, ErrDropped
			}
			o.stats.Refused++
			o.saveState()
			return nil, ErrFull
		}
	}
	return o.newSegment()
}

// ErrDropped is returned for a Routine reading that found the outbox full of
// readings it may not drop; it is counted under Stats.Dropped["full"].
var ErrDropped = errors.New("outbox full: routine reading dropped")

func (o *Outbox) newSegment() (*segment, error) {
	var num uint64 = 1
	if len(o.segs) > 0 {
		num = o.segs[len(o.segs)-1].num + 1
	}
	name := filepath.Join(o.dir, fmt.Sprintf("seg-%020d.log", num))
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	// Preallocate: later fdatasyncs do not have to journal a size change.
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, o.opts.SegmentBytes); err != nil {
		// Filesystems without fallocate get zeros written once instead.
		if _, err := f.WriteAt(make([]byte, o.opts.SegmentBytes), 0); err != nil {
			f.Close()
			os.Remove(name)
			return nil, err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := syncDir(o.dir); err != nil {
		f.Close()
		return nil, err
	}
	s := &segment{num: num, f: f, cap: o.opts.SegmentBytes}
	o.segs = append(o.segs, s)
	o.recount()
	return s, nil
}

func (o *Outbox) recount() {
	o.stats.DiskBytes, o.stats.Segments = 0, len(o.segs)
	for _, s := range o.segs {
		o.stats.DiskBytes += s.cap
	}
}

// reclaim frees one segment's worth of space if it can: the oldest
// delivered segment, else the oldest segment holding routine or delivered
// records, rewritten without them. It reports whether it freed anything.
func (o *Outbox) reclaim() bool {
	if len(o.segs) < 2 {
		return false
	}
	busy := func(s *segment) bool { return o.touched[s] || o.syncing[s] }
	for _, s := range o.segs[:len(o.segs)-1] {
		if s.live == 0 && !busy(s) {
			return o.deleteSegment(s) == nil
		}
	}
	for _, s := range o.segs[:len(o.segs)-1] {
		if busy(s) {
			continue
		}
		if freed, err := o.rewrite(s); err == nil && freed {
			return true
		}
	}
	return false
}

// saveState writes state.json durably; it must precede any deletion of
// records, so sequence numbers and acks are never forgotten.
func (o *Outbox) saveState() error {
	st := stateFile{Seq: map[string]uint64{}, Acked: map[string]uint64{}, Dropped: o.stats.Dropped, Refused: o.stats.Refused}
	for name, d := range o.devs {
		st.Seq[name], st.Acked[name] = d.seq, d.acked
	}
	b, _ := json.Marshal(st)
	tmp := filepath.Join(o.dir, "state.json.tmp")
	if err := writeSync(tmp, b); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(o.dir, "state.json")); err != nil {
		return err
	}
	return syncDir(o.dir)
}

func (o *Outbox) deleteSegment(s *segment) error {
	if err := o.saveState(); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(o.dir, fmt.Sprintf("seg-%020d.log", s.num))); err != nil {
		return err
	}
	s.f.Close()
	o.segs = slices.DeleteFunc(o.segs, func(x *segment) bool { return x == s })
	for _, d := range o.devs {
		d.entries = slices.DeleteFunc(d.entries, func(e entry) bool { return e.seg == s })
	}
	o.recount()
	return nil
}

// rewrite copies a segment's undelivered protected records into a smaller
// file and renames it over the old one, dropping routine and delivered
// records. Undelivered routine records are counted as dropped ("full").
func (o *Outbox) rewrite(s *segment) (bool, error) {
	type keep struct {
		d *devq
		i int
	}
	var kept []keep
	var size int64
	dropped, delivered := 0, 0
	for _, d := range o.devs {
		for i, e := range d.entries {
			if e.seg != s {
				continue
			}
			switch {
			case e.seq <= d.acked:
				delivered++
			case e.class == Routine:
				dropped++
			default:
				kept = append(kept, keep{d, i})
				size += e.n
			}
		}
	}
	if dropped == 0 && delivered == 0 {
		return false, nil
	}
	newCap := max(size+headerLen, 4096)
	if newCap >= s.cap {
		return false, nil
	}
	// Keep the records in file order so a scan rebuilds the same lists.
	slices.SortFunc(kept, func(a, b keep) int { return cmp.Compare(a.d.entries[a.i].off, b.d.entries[b.i].off) })
	buf := make([]byte, newCap)
	var off int64
	newOff := make([]int64, len(kept))
	for k, kp := range kept {
		e := kp.d.entries[kp.i]
		if _, err := s.f.ReadAt(buf[off:off+e.n], e.off); err != nil {
			return false, err
		}
		newOff[k] = off
		off += e.n
	}
	// Drops become final here: count them in state.json first.
	o.stats.Dropped["full"] += int64(dropped)
	if err := o.saveState(); err != nil {
		o.stats.Dropped["full"] -= int64(dropped)
		return false, err
	}
	name := filepath.Join(o.dir, fmt.Sprintf("seg-%020d.log", s.num))
	tmp := name + ".tmp"
	if err := writeSync(tmp, buf); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, name); err != nil {
		return false, err
	}
	if err := syncDir(o.dir); err != nil {
		return false, err
	}
	f, err := os.OpenFile(name, os.O_RDWR, 0o600)
	if err != nil {
		return false, err
	}
	s.f.Close()
	s.f, s.cap, s.size = f, newCap, off
	type key struct {
		d   *devq
		seq uint64
	}
	isKept := map[key]bool{}
	for k, kp := range kept {
		kp.d.entries[kp.i].off = newOff[k]
		isKept[key{kp.d, kp.d.entries[kp.i].seq}] = true
	}
	for _, d := range o.devs {
		d.entries = slices.DeleteFunc(d.entries, func(e entry) bool {
			if e.seg != s || isKept[key{d, e.seq}] {
				return false
			}
			if e.seq > d.acked { // a dropped routine record
				o.stats.Records--
				o.stats.Bytes -= e.n
				s.live--
			}
			return true
		})
	}
	o.recount()
	return true, nil
}

// Next blocks until a readable record is due and returns it. Devices take
// turns, so one device's backlog does not hold back another's readings;
// each device's records come in sequence order.
func (o *Outbox) Next(ctx context.Context) (Record, error) {
	for {
		o.mu.Lock()
		if o.closed {
			o.mu.Unlock()
			return Record{}, errors.New("outbox: closed")
		}
		for range len(o.order) {
			o.rr = (o.rr + 1) % len(o.order)
			d := o.devs[o.order[o.rr]]
			for d.next <= d.visible {
				i, _ := slices.BinarySearchFunc(d.entries, d.next, func(e entry, s uint64) int { return cmp.Compare(e.seq, s) })
				if i == len(d.entries) {
					d.next = d.visible + 1
					break
				}
				e := d.entries[i]
				if e.seq > d.visible {
					break
				}
				d.next = e.seq + 1 // a dropped seq is skipped: the next retained one follows
				rec, _, err := readAt(e.seg.f, e.off, e.seg.cap)
				if err != nil {
					// Unreadable on disk (media error): counted, never fatal.
					o.stats.Dropped["unreadable"]++
					continue
				}
				o.mu.Unlock()
				return rec, nil
			}
		}
		wake := o.wake
		o.mu.Unlock()
		select {
		case <-ctx.Done():
			return Record{}, ctx.Err()
		case <-wake:
		}
	}
}

// Ack marks every record of device up to seq delivered. The publisher acks
// a device's records in order.
func (o *Outbox) Ack(device string, seq uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	d := o.devs[device]
	if d == nil || seq <= d.acked {
		return
	}
	i, _ := slices.BinarySearchFunc(d.entries, d.acked+1, func(e entry, s uint64) int { return cmp.Compare(e.seq, s) })
	for ; i < len(d.entries) && d.entries[i].seq <= seq; i++ {
		e := d.entries[i]
		e.seg.live--
		o.stats.Records--
		o.stats.Bytes -= e.n
	}
	d.acked = seq
	o.acksDirt = true
	o.trim()
}

// trim deletes delivered segments beyond the retention budget.
func (o *Outbox) trim() {
	var retained int64
	for i := len(o.segs) - 2; i >= 0; i-- {
		s := o.segs[i]
		if s.live != 0 {
			continue
		}
		retained += s.cap
		if retained > o.opts.RetainBytes && !o.touched[s] && !o.syncing[s] {
			if o.deleteSegment(s) != nil {
				return
			}
		}
	}
}

// Rewind makes the reader deliver again every unacknowledged record; the
// publisher calls it after losing its connection.
func (o *Outbox) Rewind() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, d := range o.devs {
		d.next = d.acked + 1
	}
	close(o.wake)
	o.wake = make(chan struct{})
}

// Resend makes the reader deliver device's records again from seq from
// (the hub saw a gap). It returns the ranges in [from, last taken] that the
// outbox no longer holds (dropped, or delivered and deleted), at most 32.
func (o *Outbox) Resend(device string, from uint64) (missing [][2]uint64, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	d := o.devs[device]
	if d == nil {
		return nil, fmt.Errorf("outbox: no device %q", device)
	}
	if from == 0 {
		from = 1
	}
	if from > d.seq {
		return nil, nil
	}
	if from < d.next {
		d.next = from
	}
	want := from
	i, _ := slices.BinarySearchFunc(d.entries, from, func(e entry, s uint64) int { return cmp.Compare(e.seq, s) })
	for ; i < len(d.entries) && len(missing) < 32; i++ {
		if s := d.entries[i].seq; s > want {
			missing = append(missing, [2]uint64{want, s - 1})
		}
		want = d.entries[i].seq + 1
	}
	if want <= d.seq && len(missing) < 32 && (len(d.entries) == 0 || d.entries[len(d.entries)-1].seq < want) {
		missing = append(missing, [2]uint64{want, d.seq})
	}
	close(o.wake)
	o.wake = make(chan struct{})
	return missing, nil
}

// Stats returns a snapshot of the counters.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.stats
	s.Dropped = map[string]int64{}
	maps(s.Dropped, o.stats.Dropped)
	return s
}

// Depth is the number of bytes not yet acknowledged.
func (o *Outbox) Depth() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stats.Bytes
}

// LastSeq is the highest sequence number taken for device.
func (o *Outbox) LastSeq(device string) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d := o.devs[device]; d != nil {
		return d.seq
	}
	return 0
}

// Acked is the highest sequence number of device the hub acknowledged.
func (o *Outbox) Acked(device string) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d := o.devs[device]; d != nil {
		return d.acked
	}
	return 0
}

// ackLoop saves acknowledgements at most once a second, without fsync: the
// SD card sees one page per interval instead of one per reading.
func (o *Outbox) ackLoop() {
	defer close(o.ackDone)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-o.stopAck:
			return
		case <-t.C:
			o.mu.Lock()
			o.saveAcks()
			o.mu.Unlock()
		}
	}
}

func (o *Outbox) saveAcks() {
	if !o.acksDirt || o.ackFile == nil {
		return
	}
	acks := map[string]uint64{}
	for name, d := range o.devs {
		acks[name] = d.acked
	}
	b, _ := json.Marshal(acks)
	if _, err := o.ackFile.WriteAt(b, 0); err == nil {
		o.ackFile.Truncate(int64(len(b)))
		o.acksDirt = false
	}
}

// Close saves the acknowledgements and closes the files; appended records
// are already on disk.
func (o *Outbox) Close() error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	close(o.wake)
	o.wake = make(chan struct{})
	o.mu.Unlock()
	close(o.stopAck)
	<-o.ackDone
	o.syncMu.Lock() // no sync in progress
	defer o.syncMu.Unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.saveAcks()
	return o.closeFiles()
}

func (o *Outbox) closeFiles() error {
	var err error
	for _, s := range o.segs {
		if e := s.f.Close(); err == nil {
			err = e
		}
	}
	if o.ackFile != nil {
		if e := o.ackFile.Close(); err == nil {
			err = e
		}
	}
	return err
}

var errEnd = errors.New("end of data")

// readAt reads the record at off; errEnd means a zero header (no more data).
func readAt(f *os.File, off, limit int64) (Record, int64, error) {
	var h [headerLen]byte
	if off+headerLen > limit {
		return Record{}, 0, errEnd
	}
	if _, err := f.ReadAt(h[:], off); err != nil {
		return Record{}, 0, err
	}
	n := int64(binary.LittleEndian.Uint32(h[0:]))
	if n == 0 && binary.LittleEndian.Uint32(h[4:]) == 0 {
		return Record{}, 0, errEnd
	}
	if n < 18 || n > maxRecord || off+headerLen+n > limit {
		return Record{}, 0, fmt.Errorf("outbox: bad record length %d at %d", n, off)
	}
	body := make([]byte, n)
	if _, err := f.ReadAt(body, off+headerLen); err != nil {
		return Record{}, 0, err
	}
	rec, err := decodeBody(body)
	if err != nil || crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(h[4:]) {
		return Record{}, 0, fmt.Errorf("outbox: bad record at %d", off)
	}
	return rec, headerLen + n, nil
}

func decodeBody(body []byte) (Record, error) {
	if len(body) < 2 {
		return Record{}, errors.New("short")
	}
	dl := int(body[1])
	if 2+dl+16 > len(body) || dl == 0 {
		return Record{}, errors.New("short")
	}
	p := 2 + dl
	return Record{
		Class:  Class(body[0]),
		Device: string(body[2:p]),
		Seq:    binary.BigEndian.Uint64(body[p:]),
		Taken:  time.UnixMilli(int64(binary.BigEndian.Uint64(body[p+8:]))),
		JSON:   body[p+16:],
	}, nil
}

func writeSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
