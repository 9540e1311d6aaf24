// Package outbox is the box's durable queue between drivers and the hub.
// A reading counts as taken once Append has returned: it is on disk
// (fdatasync) and survives kill -9 and a power cut. The publisher reads
// records per device in sequence order and acknowledges them once the hub
// has; the reader never sees a record before it is durable.
//
// Sequence numbers belong to an incarnation (a random id every reading
// carries). The outbox keeps an incarnation only while it can prove that
// its sequence state is intact: state.json whole, every segment holding at
// least what its last commit slot says. Otherwise it starts a new one, so a
// (incarnation, device, seq) never names two readings (docs/delivery.md).
//
// On disk (one directory):
//
//	seg-<n>.log  segments, preallocated (fallocate), so an fdatasync flushes
//	             data pages and not an inode update: two commit slots
//	             (segment.go) then records (record.go)
//	acks         {"incarnation": {"device": highest acknowledged seq}},
//	             rewritten at most once a second without fsync (a lost ack
//	             only means a resend the hub drops)
//	state.json   incarnation, sequence high-water marks, live segments, acks
//	             and loss counters, written with fsync + rename
//	reserve      a small file deleted when the disk is full, so state.json
//	             can still be written and delivered segments deleted
//
// Memory does not grow with the backlog: the outbox keeps, per segment and
// device, a first and last sequence number and a count; readers scan the
// segments in file order through a small buffer.
//
// Full policy (Options.MaxBytes, or the filesystem): first delete delivered
// segments, then drop undelivered Routine records oldest-first (counted as
// dropped), and when only Protected records fill the bound, refuse the new
// reading with ErrFull. A reading that cannot be written for lack of disk is
// counted under dropped "disk_full"; the outbox takes readings again as soon
// as there is room.
package outbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
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

// Reasons a reading was not kept (Stats.Dropped).
const (
	LostFull       = "full"        // the outbox bound: routine dropped oldest-first
	LostDiskFull   = "disk_full"   // no space on the filesystem
	LostWriteError = "write_error" // the write or its fdatasync failed
	LostCorrupt    = "corrupt"     // taken, then found damaged or missing at open
	LostUnreadable = "unreadable"  // could not be read back for delivery
	LostInvalid    = "invalid"     // failed its kind's schema (counted by the caller)
)

// Reasons for a new incarnation (Stats.IncarnationReason).
const (
	IncNew            = "new"             // no state: first start, re-flashed, new card
	IncStateMissing   = "state_missing"   // segments without state.json
	IncStateCorrupt   = "state_corrupt"   // state.json empty, truncated or unreadable
	IncSegmentCorrupt = "segment_corrupt" // a segment holds less than it committed
	IncSegmentMissing = "segment_missing" // a segment state.json lists is gone
	IncUpgrade        = "upgrade"         // the outbox of an edged without incarnations
)

var (
	// ErrFull is returned by Append when the outbox holds nothing it may drop.
	ErrFull = errors.New("outbox full of undelivered protected readings")
	// ErrDropped is returned for a Routine reading that found the outbox full
	// of readings it may not drop; it is counted under Stats.Dropped["full"].
	ErrDropped = errors.New("outbox full: routine reading dropped")
	// ErrDiskFull is returned when the filesystem has no room for a new
	// segment; the reading is counted under Stats.Dropped["disk_full"].
	ErrDiskFull = errors.New("outbox: no space left on the disk")
)

// Options bound the outbox. Zero values take the defaults.
type Options struct {
	MaxBytes     int64 // bound on segment files on disk; default 256 MiB
	SegmentBytes int64 // size of one segment; default 4 MiB
	RetainBytes  int64 // delivered segments kept for resend requests; default 2 segments
}

const minSegment = dataStart + 4<<10

func (o *Options) defaults() {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 256 << 20
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 4 << 20
	}
	o.SegmentBytes = max(o.SegmentBytes, minSegment)
	o.MaxBytes = max(o.MaxBytes, 2*o.SegmentBytes)
	if o.RetainBytes <= 0 {
		o.RetainBytes = min(2*o.SegmentBytes, o.MaxBytes/8)
	}
}

// Record is one stored reading as the reader gets it.
type Record struct {
	Device      string
	Incarnation string
	Seq         uint64
	Class       Class
	Taken       time.Time // when Append took it
	JSON        []byte    // the envelope, exactly as Append was given it

	room []byte // JSON with len(historicalHead)-1 free bytes in front (MarkHistorical)
}

// historicalHead opens an envelope sent late (MarkHistorical).
const historicalHead = `{"historical":true,`

// MarkHistorical makes JSON the envelope with "historical":true as its
// first member, for a reading sent late (the record on disk stays as
// taken). It writes into room the reader left in front of JSON, so a
// backlog's drain, where every reading is late, builds each envelope once.
// An envelope already marked, or not a JSON object, is left as it is.
func (r *Record) MarkHistorical() {
	js := r.JSON
	if len(js) < 2 || js[0] != '{' || bytes.Contains(js, []byte(`"historical":true`)) {
		return
	}
	n := len(historicalHead) - 1
	if len(r.room) == n+len(js) && &r.room[n] == &js[0] {
		copy(r.room, historicalHead)
		r.JSON, r.room = r.room, nil
		return
	}
	out := make([]byte, 0, len(js)+n)
	r.JSON = append(append(out, historicalHead...), js[1:]...)
}

// stream is one device's readings in one incarnation.
type stream struct {
	inc, dev string
	seq      uint64 // highest taken
	visible  uint64 // highest durable (readable)
	acked    uint64 // highest acknowledged by the hub
	next     uint64 // next seq to hand to the reader
	trimAt   uint64 // an ack reaching this may free a segment (0: work it out)
	cur      *segment
	off      int64
	rd       reader
}

type streamKey struct{ inc, dev string }

// Event is one incarnation of the outbox's sequence state.
type Event struct {
	ID     string    `json:"id"`
	Since  time.Time `json:"since"`
	Reason string    `json:"reason"`
}

// Stats are the outbox's counters.
type Stats struct {
	Incarnation       string           `json:"incarnation"`
	IncarnationSince  time.Time        `json:"incarnation_since"`
	IncarnationReason string           `json:"incarnation_reason"`
	Incarnations      int              `json:"incarnations"` // since the state was last lost
	Records           int64            `json:"records"`      // undelivered records
	Bytes             int64            `json:"bytes"`        // undelivered record bytes
	DiskBytes         int64            `json:"disk_bytes"`   // segment files on disk
	Segments          int              `json:"segments"`     //
	Dropped           map[string]int64 `json:"dropped"`      // readings not kept, by reason
	Refused           int64            `json:"refused"`      // protected readings refused (ErrFull)
	Syncs             int64            `json:"syncs"`        // fdatasync calls
	Appended          int64            `json:"appended"`     // records taken since open
	AppendBytes       int64            `json:"append_bytes"` // record bytes written since open
	TornBytes         int64            `json:"torn_bytes"`   // cut from segment tails at open
	Full              bool             `json:"full"`         // the last Append found no room
	DiskFull          bool             `json:"disk_full"`    // the last new segment found no space
}

// Outbox is safe for concurrent appenders and one reader.
type Outbox struct {
	dir  string
	opts Options

	mu         sync.Mutex
	inc        Event   // the current incarnation
	history    []Event // newest last
	segs       []*segment
	streams    map[streamKey]*stream
	order      []*stream // round-robin order of the reader
	rr         int
	wake       chan struct{} // closed and replaced whenever records become readable
	stats      Stats
	closed     bool
	acksDirt   bool
	stateDirt  bool
	stateSeq   map[string]uint64 // high-water marks of the current incarnation from state.json
	lastSegNum uint64

	// group commit: writes bump gen; one syncer at a time flushes every
	// segment written so far and makes those records visible.
	gen       uint64
	touched   map[*segment]bool
	syncing   map[*segment]bool
	pendVis   []*pending
	syncMu    sync.Mutex
	syncedGen uint64
	scratch   []byte

	ackFile *os.File
	stopAck chan struct{}
	ackDone chan struct{}
}

type pending struct {
	st  *stream
	seq uint64
	gen uint64
	err error // the fdatasync that covered it failed
}

type stateFile struct {
	Version      int                          `json:"version"`
	Incarnation  Event                        `json:"incarnation"`
	History      []Event                      `json:"history,omitempty"`
	Seq          map[string]uint64            `json:"seq"`  // current incarnation
	Past         map[string]map[string]uint64 `json:"past"` // past incarnations still held
	Segments     []uint64                     `json:"segments"`
	LastSegment  uint64                       `json:"last_segment"`
	Acked        map[string]map[string]uint64 `json:"acked"`
	Dropped      map[string]int64             `json:"dropped"`
	Refused      int64                        `json:"refused"`
	Incarnations int                          `json:"incarnations"`
}

// Open opens (or creates) the outbox in dir and recovers its state. A
// damaged state never stops it: the outbox starts a new incarnation, keeps
// whatever records it can still read, and counts the ones it cannot.
func Open(dir string, opts Options) (*Outbox, error) {
	opts.defaults()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	o := &Outbox{
		dir: dir, opts: opts, streams: map[streamKey]*stream{}, wake: make(chan struct{}),
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

func newIncarnation(reason string) Event {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return Event{ID: hex.EncodeToString(b[:]), Since: time.Now().UTC().Truncate(time.Millisecond), Reason: reason}
}

func (o *Outbox) stream(inc, dev string) *stream {
	k := streamKey{inc, dev}
	st := o.streams[k]
	if st == nil {
		st = &stream{inc: inc, dev: dev, next: 1}
		if inc == o.inc.ID {
			st.seq = o.stateSeq[dev]
			st.visible = st.seq
		}
		o.streams[k] = st
		o.order = append(o.order, st)
	}
	return st
}

func (o *Outbox) recover() error {
	var st stateFile
	stateOK := false
	reason := ""
	b, err := os.ReadFile(filepath.Join(o.dir, "state.json"))
	switch {
	case err == nil:
		var old legacyState
		switch {
		case json.Unmarshal(b, &st) == nil && st.Version == 2 && validID(st.Incarnation.ID):
			stateOK = true
		case st.Version == 0 && json.Unmarshal(b, &old) == nil && old.Seq != nil:
			// An edged from before incarnations: its readings were v1 (no
			// incarnation); they stay deliverable under the empty one.
			reason, st = IncUpgrade, old.upgrade()
			maps(o.stats.Dropped, st.Dropped)
			o.stats.Refused = st.Refused
		default:
			reason, st = IncStateCorrupt, stateFile{}
		}
	case errors.Is(err, os.ErrNotExist):
		reason = IncNew
	default:
		return err
	}
	if stateOK {
		o.inc, o.history, o.stateSeq = st.Incarnation, st.History, st.Seq
		maps(o.stats.Dropped, st.Dropped)
		o.stats.Refused = st.Refused
		o.stats.Incarnations = st.Incarnations
	}
	if o.stateSeq == nil {
		o.stateSeq = map[string]uint64{}
	}
	acked := st.Acked
	if acked == nil {
		acked = map[string]map[string]uint64{}
	}
	// acks is newer than state.json but may be torn (written without
	// fsync): a torn file is ignored, which only means resending.
	if b, err := os.ReadFile(filepath.Join(o.dir, "acks")); err == nil {
		var a map[string]map[string]uint64
		var old map[string]uint64
		if json.Unmarshal(b, &a) != nil && json.Unmarshal(b, &old) == nil {
			a = map[string]map[string]uint64{"": old}
		}
		if a != nil {
			for inc, m := range a {
				if acked[inc] == nil {
					acked[inc] = map[string]uint64{}
				}
				for d, v := range m {
					acked[inc][d] = max(acked[inc][d], v)
				}
			}
		}
	}
	if o.ackFile, err = os.OpenFile(filepath.Join(o.dir, "acks"), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return err
	}
	if tmps, _ := filepath.Glob(filepath.Join(o.dir, "seg-*.log.tmp")); len(tmps) > 0 {
		for _, t := range tmps {
			os.Remove(t) // a rewrite cut short: the segment it was for is whole
		}
	}
	names, err := filepath.Glob(filepath.Join(o.dir, "seg-*.log"))
	if err != nil {
		return err
	}
	sort.Strings(names) // fixed-width numbers sort in order
	var lost int64
	found := map[uint64]bool{}
	for _, name := range names {
		num, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(name), "seg-"), ".log"), 10, 64)
		if err != nil {
			continue
		}
		s, n, bad, err := o.openSegment(name, num)
		if err != nil {
			return err
		}
		found[num] = true
		o.lastSegNum = max(o.lastSegNum, num)
		// Damage to a past incarnation's segment costs readings (counted)
		// but not the current sequence state.
		if bad && stateOK && (s == nil || s.inc == o.inc.ID) && reason == "" {
			reason = IncSegmentCorrupt
		}
		lost += n
		if s == nil {
			continue
		}
		if s.records == 0 && !bad {
			s.f.Close()
			os.Remove(name) // nothing in it
			continue
		}
		o.segs = append(o.segs, s)
	}
	if stateOK {
		for _, num := range st.Segments {
			if !found[num] && reason == "" {
				reason = IncSegmentMissing
			}
		}
		o.lastSegNum = max(o.lastSegNum, st.LastSegment)
		if st.LastSegment > 0 && !found[st.LastSegment] && reason == "" {
			// The newest segment state.json knows of is gone with whatever it held.
			reason = IncSegmentMissing
		}
	} else if reason == IncUpgrade {
		for dev, seq := range st.Past[""] {
			x := o.stream("", dev)
			x.seq = max(x.seq, seq)
			x.visible = x.seq
		}
	} else if reason == IncNew && len(o.segs) > 0 {
		reason = IncStateMissing
	}
	if lost > 0 {
		o.stats.Dropped[LostCorrupt] += lost
	}
	for _, s := range o.segs {
		for dev, d := range s.devs {
			x := o.stream(s.inc, dev)
			x.seq = max(x.seq, d.last)
			x.visible = x.seq
		}
		// Numbers committed but lost stay taken: a resend hears they are gone.
		for dev, last := range s.claimed {
			x := o.stream(s.inc, dev)
			x.seq = max(x.seq, last)
			x.visible = x.seq
		}
		s.claimed = nil
	}
	for inc, m := range st.Past {
		for dev, seq := range m {
			if x := o.streams[streamKey{inc, dev}]; x != nil {
				x.seq = max(x.seq, seq)
				x.visible = x.seq
			}
		}
	}
	for k, x := range o.streams {
		x.acked = acked[k.inc][k.dev]
		x.next = x.acked + 1
	}
	if reason != "" {
		o.inc = newIncarnation(reason)
		o.stats.Incarnations++
		o.history = append(o.history, o.inc)
		if len(o.history) > 16 {
			o.history = o.history[len(o.history)-16:]
		}
		o.stateSeq = map[string]uint64{} // sequence numbers start again at 1
	}
	o.ensureReserve()
	if err := o.saveState(); err != nil {
		// Not fatal (a full disk): retried once a second; nothing is
		// appended before it succeeds, since a new segment saves it too.
		o.stateDirt = true
	}
	return nil
}

func validID(s string) bool {
	if len(s) < 8 || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// openSegment opens and checks one segment file. It returns the number of
// taken records it no longer holds (bad is true then), and nil for a file
// to ignore (an empty file left by a crash while a segment was created).
func (o *Outbox) openSegment(name string, num uint64) (*segment, int64, bool, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0o600)
	if err != nil {
		return nil, 0, false, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, false, err
	}
	sl, ok := readSlots(f)
	if !ok && o.upgradeSegment(f, name, fi.Size()) {
		f.Close()
		return o.openSegment(name, num)
	}
	if !ok {
		// No whole commit slot: the file is not a segment this outbox wrote,
		// or its first page is damaged. Kept aside, never read again.
		zero := allZero(f, fi.Size())
		f.Close()
		if zero {
			os.Remove(name) // a crash while the segment was created: it held nothing
			return nil, 0, false, nil
		}
		os.Rename(name, name+".damaged")
		return nil, 1, true, nil
	}
	sc, err := scanFile(f, fi.Size(), false)
	if err != nil {
		f.Close()
		return nil, 0, false, err
	}
	short := func(sc scanned) int64 {
		var n int64
		if sl.complete {
			for dev, lc := range sl.devs {
				have := 0
				if d := sc.devs[dev]; d != nil {
					have = d.count
				}
				n += max(int64(lc[1])-int64(have), 0)
			}
		}
		return max(n, int64(sl.records)-int64(sc.records))
	}
	lost := short(sc)
	if lost > 0 {
		// Damaged: read past the damage, keep every whole record.
		if sc, err = scanFile(f, fi.Size(), true); err != nil {
			f.Close()
			return nil, 0, false, err
		}
		lost = short(sc)
	} else {
		o.stats.TornBytes += sc.torn
	}
	s := &segment{
		num: num, f: f, inc: sl.inc, cap: fi.Size(), end: sc.end, commit: sl.commit,
		records: sc.records, dicts: sc.dicts, devs: sc.devs, sealed: true, holes: sc.holes || lost > 0,
		claimed: map[string]uint64{},
	}
	for dev, lc := range sl.devs {
		s.claimed[dev] = lc[0]
	}
	if lost > 0 {
		// Record what the segment holds now, so the next open does not count
		// the same loss again.
		s.commit++
		if _, err := f.WriteAt(s.slot(), int64(s.commit%2)*slotLen); err == nil {
			syscall.Fdatasync(int(f.Fd()))
		}
	}
	return s, lost, lost > 0, nil
}

func maps(dst, src map[string]int64) {
	for k, v := range src {
		dst[k] += v
	}
}

// Incarnation is the id the current readings carry.
func (o *Outbox) Incarnation() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.inc.ID
}

// Lose counts readings not kept for a reason the caller found (an invalid
// reading); the counter is saved with the next state write.
func (o *Outbox) Lose(reason string, n int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stats.Dropped[reason] += n
	o.stateDirt = true
}

// Append takes a reading for device: it assigns the next sequence number,
// lets build render the envelope with it, and returns once it is on disk.
// Appends running at the same time share one fdatasync (group commit). An
// error from build is returned as it is and takes no sequence number; any
// other error is a reading lost, counted under Stats.Dropped or Refused.
func (o *Outbox) Append(device string, class Class, build func(seq uint64) ([]byte, error)) (uint64, error) {
	if len(device) == 0 || len(device) > 255 {
		return 0, fmt.Errorf("outbox: bad device id")
	}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return 0, errors.New("outbox: closed")
	}
	st := o.stream(o.inc.ID, device)
	seq := st.seq + 1
	js, err := build(seq)
	if err != nil {
		o.mu.Unlock()
		return 0, err
	}
	if len(js) > maxRecord/2 {
		o.mu.Unlock()
		return 0, fmt.Errorf("outbox: record of %d bytes exceeds the limit", len(js))
	}
	now := time.Now()
	s := o.active()
	var buf []byte
	var dicts [][]byte
	if s != nil {
		buf, dicts = o.encode(s, class, device, seq, now.UnixMilli(), js)
	}
	if s == nil || s.end+int64(len(buf)) > s.cap {
		// Worst case in a new segment: every part a new dict record.
		if s, err = o.room(2*int64(len(js))+128, class); err != nil {
			o.mu.Unlock()
			return 0, err
		}
		buf, dicts = o.encode(s, class, device, seq, now.UnixMilli(), js)
	}
	n := int64(len(buf))
	if _, err := s.f.WriteAt(buf, s.end); err != nil {
		// Nothing past s.end is ever read; seal the segment so the next
		// record does not land after bytes that may be half written.
		o.seal(s)
		o.stats.Dropped[LostWriteError]++
		o.stateDirt = true
		o.mu.Unlock()
		return 0, fmt.Errorf("outbox: write: %w", err)
	}
	for _, d := range dicts {
		s.dicts = append(s.dicts, d)
		s.dictIdx[string(d)] = uint64(len(s.dicts))
		s.dictBytes += len(d)
	}
	s.note(device, seq, s.end, n, class)
	s.end += n
	st.seq = seq
	o.stats.Appended++
	o.stats.AppendBytes += n
	o.stats.Full, o.stats.DiskFull = false, false
	o.gen++
	gen := o.gen
	o.touched[s] = true
	p := &pending{st: st, seq: seq, gen: gen}
	o.pendVis = append(o.pendVis, p)
	o.mu.Unlock()
	o.syncTo(gen)
	o.mu.Lock()
	defer o.mu.Unlock()
	if p.err != nil {
		return 0, p.err
	}
	return seq, nil
}

// active is the segment appends go to, or nil when a new one is needed.
func (o *Outbox) active() *segment {
	if len(o.segs) == 0 {
		return nil
	}
	s := o.segs[len(o.segs)-1]
	if s.sealed || s.inc != o.inc.ID {
		return nil
	}
	return s
}

// encode renders the framed record (and any dict records it needs first).
// The new dicts are returned for the caller to register once written.
func (o *Outbox) encode(s *segment, class Class, device string, seq uint64, taken int64, js []byte) ([]byte, [][]byte) {
	var dicts [][]byte
	newBytes := 0
	ref := func(text []byte) (uint64, bool) {
		if len(text) == 0 {
			return 0, true
		}
		if id, ok := s.dictIdx[string(text)]; ok {
			return id, true
		}
		for i, d := range dicts {
			if bytes.Equal(d, text) {
				return uint64(len(s.dicts) + i + 1), true
			}
		}
		if s.dictBytes+newBytes+len(text) > maxDictBytes || len(text) > maxDictLen {
			return 0, false
		}
		newBytes += len(text)
		dicts = append(dicts, bytes.Clone(text))
		return uint64(len(s.dicts) + len(dicts)), true
	}
	body := o.scratch[:0]
	body = append(body, byte(class))
	if id, ok := ref([]byte(device)); ok {
		body = appendUvarint(body, id)
	} else {
		body = appendUvarint(body, 0)
		body = append(body, byte(len(device)))
		body = append(body, device...)
	}
	body = appendUvarint(body, seq)
	body = appendUvarint(body, uint64(max(taken, 0)))
	mark := len(body)
	p, ok := split(js, seq)
	var pre, mid, tail uint64
	if ok {
		var ok1, ok2, ok3 bool
		pre, ok1 = ref(p.pre)
		mid, ok2 = ref(p.mid)
		tail, ok3 = ref(p.tail)
		ok = ok1 && ok2 && ok3
	}
	if ok {
		body = append(body, formSplit)
		body = appendUvarint(body, pre)
		if p.hasOrigin {
			body = append(body, 1)
			body = appendVarint(body, p.origin)
		} else {
			body = append(body, 0)
		}
		body = appendUvarint(body, mid)
		body = appendUvarint(body, tail)
		body = append(body, p.literal...)
		// The parts must give the envelope back byte for byte.
		rec, err := decodeRaw(body)
		all := append(slices.Clip(s.dicts), dicts...)
		if err == nil {
			var back []byte
			if back, err = rec.envelope(all, nil); err == nil && !bytes.Equal(back, js) {
				err = errBody
			}
		}
		if err != nil {
			ok = false
		}
	}
	if !ok {
		body = append(body[:mark], formLiteral)
		body = append(body, js...)
	}
	var out []byte
	for i, d := range dicts {
		db := appendUvarint([]byte{typeDict}, uint64(len(s.dicts)+i+1))
		out = frame(out, append(db, d...))
	}
	out = frame(out, body)
	o.scratch = body[:0]
	return out, dicts
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendVarint(b []byte, v int64) []byte {
	u := uint64(v) << 1
	if v < 0 {
		u = ^u
	}
	return appendUvarint(b, u)
}

// syncTo returns once every write up to gen was flushed (each pending
// says whether it made it). The first caller in flushes for everyone who
// wrote before it started.
func (o *Outbox) syncTo(gen uint64) {
	o.syncMu.Lock()
	defer o.syncMu.Unlock()
	if o.syncedGen >= gen {
		return
	}
	o.mu.Lock()
	target := o.gen
	type job struct {
		s    *segment
		slot []byte
		at   int64
	}
	jobs := make([]job, 0, len(o.touched))
	for s := range o.touched {
		s.commit++
		jobs = append(jobs, job{s, s.slot(), int64(s.commit%2) * slotLen})
		o.syncing[s] = true
	}
	clear(o.touched)
	o.mu.Unlock()
	var err error
	for _, j := range jobs {
		if _, e := j.s.f.WriteAt(j.slot, j.at); e != nil && err == nil {
			err = fmt.Errorf("outbox: commit slot: %w", e)
		}
		if e := syscall.Fdatasync(int(j.s.f.Fd())); e != nil && err == nil {
			err = fmt.Errorf("outbox: fdatasync: %w", e)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, j := range jobs {
		delete(o.syncing, j.s)
	}
	o.stats.Syncs++
	keep := o.pendVis[:0]
	for _, p := range o.pendVis {
		switch {
		case p.gen > target:
			keep = append(keep, p)
		case err != nil:
			// After a failed fdatasync the kernel may have dropped the
			// pages: these readings are not taken. The segment takes no
			// more, and they are never read (the reader stops at visible).
			p.err = err
			o.stats.Dropped[LostWriteError]++
			o.stateDirt = true
		default:
			p.st.visible = max(p.st.visible, p.seq)
		}
	}
	o.pendVis = keep
	o.syncedGen = target
	if err != nil {
		for _, j := range jobs {
			o.seal(j.s)
		}
		return
	}
	close(o.wake)
	o.wake = make(chan struct{})
}

// room returns a new segment for a record of about n bytes, making space
// under the bound first. Called with o.mu held.
func (o *Outbox) room(n int64, class Class) (*segment, error) {
	if s := o.active(); s != nil {
		o.seal(s)
	}
	size := max(o.opts.SegmentBytes, dataStart+2*n)
	for o.diskBytes()+size > o.opts.MaxBytes {
		if !o.reclaim(true) {
			return nil, o.full(class, LostFull)
		}
	}
	for {
		s, err := o.newSegment(size, n)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EDQUOT) {
			o.stats.Dropped[LostWriteError]++
			o.stateDirt = true
			return nil, fmt.Errorf("outbox: new segment: %w", err)
		}
		// The filesystem is fuller than the bound: free what may be freed.
		if !o.reclaim(false) {
			o.stats.DiskFull = true
			return nil, o.full(class, LostDiskFull)
		}
	}
}

// full counts a reading that found no room and returns its error.
func (o *Outbox) full(class Class, reason string) error {
	o.stats.Full = true
	o.stateDirt = true
	if reason == LostFull && class == Protected {
		o.stats.Refused++
		return ErrFull
	}
	o.stats.Dropped[reason]++
	if reason == LostDiskFull {
		return ErrDiskFull
	}
	return ErrDropped
}

func (o *Outbox) diskBytes() int64 {
	var n int64
	for _, s := range o.segs {
		n += s.cap
	}
	return n
}

// newSegment creates and preallocates a segment. When the filesystem has
// less room than size, it takes the largest smaller size that fits (down
// to what the record needs), so a small disk still takes readings.
func (o *Outbox) newSegment(size, need int64) (*segment, error) {
	num := o.lastSegNum + 1
	name := segName(o.dir, num)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*segment, error) {
		f.Close()
		os.Remove(name)
		return nil, err
	}
	floor := max(int64(minSegment), dataStart+need+recHeader)
	for {
		err = syscall.Fallocate(int(f.Fd()), 0, 0, size)
		if err == nil {
			break
		}
		if errors.Is(err, syscall.EOPNOTSUPP) {
			// Filesystems without fallocate get zeros written once instead.
			if _, err = f.WriteAt(make([]byte, size), 0); err == nil {
				break
			}
		}
		if !errors.Is(err, syscall.ENOSPC) || size/2 < floor {
			return fail(err)
		}
		f.Truncate(0)
		size /= 2
	}
	s := &segment{num: num, f: f, inc: o.inc.ID, cap: size, end: dataStart, dictIdx: map[string]uint64{}, devs: map[string]*segDev{}}
	if _, err := f.WriteAt(s.slot(), 0); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := syncDir(o.dir); err != nil {
		return fail(err)
	}
	o.lastSegNum = num
	o.segs = append(o.segs, s)
	// state.json lists every live segment: one that vanishes is noticed.
	if err := o.saveState(); err != nil {
		o.segs = o.segs[:len(o.segs)-1]
		return fail(err)
	}
	return s, nil
}

// delivered reports whether every record of s was acknowledged.
func (o *Outbox) delivered(s *segment) bool {
	for dev, d := range s.devs {
		if st := o.streams[streamKey{s.inc, dev}]; st == nil || st.acked < d.last {
			return false
		}
	}
	return true
}

// reclaim frees one segment if it can: the oldest delivered segment, else
// (when mayDrop) the oldest segment holding routine or delivered records,
// rewritten without them. It reports whether it freed anything.
func (o *Outbox) reclaim(mayDrop bool) bool {
	busy := func(s *segment) bool { return o.touched[s] || o.syncing[s] }
	for _, s := range o.segs {
		if s.sealed && !busy(s) && o.delivered(s) {
			return o.deleteSegment(s) == nil
		}
	}
	if !mayDrop {
		return false
	}
	for _, s := range o.segs {
		if !s.sealed || busy(s) {
			continue
		}
		if freed, err := o.rewrite(s); err == nil && freed {
			return true
		}
	}
	return false
}

// saveState writes state.json durably; it precedes every deletion of a
// segment, so sequence numbers, acks and loss counters are never forgotten.
func (o *Outbox) saveState() error {
	st := stateFile{
		Version: 2, Incarnation: o.inc, History: o.history, Seq: map[string]uint64{},
		LastSegment: o.lastSegNum, Acked: map[string]map[string]uint64{},
		Dropped: o.stats.Dropped, Refused: o.stats.Refused, Incarnations: o.stats.Incarnations,
	}
	for k, x := range o.streams {
		if k.inc == o.inc.ID {
			st.Seq[k.dev] = x.seq
		} else {
			if st.Past == nil {
				st.Past = map[string]map[string]uint64{}
			}
			if st.Past[k.inc] == nil {
				st.Past[k.inc] = map[string]uint64{}
			}
			st.Past[k.inc][k.dev] = x.seq
		}
		if x.acked > 0 {
			if st.Acked[k.inc] == nil {
				st.Acked[k.inc] = map[string]uint64{}
			}
			st.Acked[k.inc][k.dev] = x.acked
		}
	}
	for dev, seq := range o.stateSeq {
		st.Seq[dev] = max(st.Seq[dev], seq)
	}
	for _, s := range o.segs {
		st.Segments = append(st.Segments, s.num)
	}
	b, _ := json.Marshal(st)
	err := writeState(o.dir, b)
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		// Give up the reserve so the state (and then deletions) can go on.
		os.Remove(filepath.Join(o.dir, "reserve"))
		err = writeState(o.dir, b)
	}
	if err == nil {
		o.stateDirt = false
	}
	return err
}

func writeState(dir string, b []byte) error {
	tmp := filepath.Join(dir, "state.json.tmp")
	if err := writeSync(tmp, b); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "state.json")); err != nil {
		return err
	}
	return syncDir(dir)
}

const reserveBytes = 64 << 10

// ensureReserve recreates the reserve file when there is room again.
func (o *Outbox) ensureReserve() {
	name := filepath.Join(o.dir, "reserve")
	if fi, err := os.Stat(name); err == nil && fi.Size() == reserveBytes {
		return
	}
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	if syscall.Fallocate(int(f.Fd()), 0, 0, reserveBytes) != nil {
		f.Close()
		os.Remove(name)
		return
	}
	f.Close()
}

func (o *Outbox) deleteSegment(s *segment) error {
	i := slices.Index(o.segs, s)
	o.segs = slices.Delete(o.segs, i, i+1)
	if err := o.saveState(); err != nil {
		o.segs = slices.Insert(o.segs, i, s)
		return err
	}
	os.Remove(segName(o.dir, s.num))
	s.f.Close()
	for _, x := range o.order {
		if x.cur == s {
			x.cur = nil
		}
	}
	o.dropStreams()
	o.ensureReserve()
	return nil
}

// dropStreams forgets streams of past incarnations that hold nothing.
func (o *Outbox) dropStreams() {
	held := map[streamKey]bool{}
	for _, s := range o.segs {
		for dev := range s.devs {
			held[streamKey{s.inc, dev}] = true
		}
	}
	o.order = slices.DeleteFunc(o.order, func(x *stream) bool {
		k := streamKey{x.inc, x.dev}
		if x.inc == o.inc.ID || held[k] {
			return false
		}
		delete(o.streams, k)
		return true
	})
	o.rr = 0
}

// rewrite copies a segment's undelivered protected records (and its
// dicts) into a smaller file and renames it over the old one, dropping
// routine and delivered records. Undelivered routine records are counted as
// dropped ("full").
func (o *Outbox) rewrite(s *segment) (bool, error) {
	var out []byte
	out = append(out, make([]byte, dataStart)...)
	ns := &segment{num: s.num, inc: s.inc, devs: map[string]*segDev{}, dicts: s.dicts, commit: s.commit + 1, sealed: true, holes: s.holes}
	var r reader
	dropped, delivered := 0, 0
	for off := int64(dataStart); off < s.end; {
		body, n, err := r.at(s, off)
		if err != nil {
			next := findRecord(&r, s, off+1, s.end)
			if next < 0 {
				break
			}
			off = next
			continue
		}
		off += n
		rec, err := decodeRaw(body)
		if err != nil {
			continue
		}
		if rec.dict {
			out = frame(out, body)
			continue
		}
		dev, _ := rec.deviceOf(s.dicts)
		st := o.streams[streamKey{s.inc, string(dev)}]
		switch {
		case st != nil && rec.seq <= st.acked:
			delivered++
		case rec.class == Routine:
			dropped++
		default:
			ns.note(string(dev), rec.seq, int64(len(out)), n, rec.class)
			out = frame(out, body)
		}
	}
	if dropped == 0 && delivered == 0 {
		return false, nil
	}
	ns.end = int64(len(out))
	ns.cap = (ns.end + 4095) &^ 4095
	if ns.cap >= s.cap {
		return false, nil
	}
	copy(out[ns.commit%2*slotLen:], ns.slot())
	out = append(out, make([]byte, ns.cap-ns.end)...)
	// Drops become final here: count them in state.json first.
	o.stats.Dropped[LostFull] += int64(dropped)
	if err := o.saveState(); err != nil {
		o.stats.Dropped[LostFull] -= int64(dropped)
		return false, err
	}
	name := segName(o.dir, s.num)
	tmp := name + ".tmp"
	if err := writeSync(tmp, out); err != nil {
		os.Remove(tmp)
		return false, err
	}
	if err := os.Rename(tmp, name); err != nil {
		return false, err
	}
	syncDir(o.dir)
	f, err := os.OpenFile(name, os.O_RDWR, 0o600)
	if err != nil {
		return false, err
	}
	s.f.Close()
	s.f, s.cap, s.end, s.devs, s.records, s.commit = f, ns.cap, ns.end, ns.devs, ns.records, ns.commit
	s.gen++
	for _, x := range o.order {
		if x.cur == s {
			x.cur = nil
		}
	}
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
			x := o.order[o.rr]
			if x.next > x.visible {
				continue
			}
			if rec, ok := o.read(x); ok {
				o.mu.Unlock()
				return rec, nil
			}
			x.next = x.visible + 1 // nothing more held up to visible
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

// read finds the stream's next record at or after x.next, no later than
// x.visible, scanning its segments in file order from its cursor.
func (o *Outbox) read(x *stream) (Record, bool) {
	if x.cur == nil {
		for _, s := range o.segs {
			if d := s.devs[x.dev]; s.inc == x.inc && d != nil && d.last >= x.next {
				x.cur, x.off = s, d.firstOff
				break
			}
		}
		if x.cur == nil {
			return Record{}, false
		}
	}
	for {
		s := x.cur
		if x.off >= s.end {
			i := slices.Index(o.segs, s)
			x.cur = nil
			for _, t := range o.segs[i+1:] {
				if d := t.devs[x.dev]; t.inc == x.inc && d != nil && d.last >= x.next {
					x.cur, x.off = t, d.firstOff
					break
				}
			}
			if x.cur == nil {
				return Record{}, false
			}
			continue
		}
		body, n, err := x.rd.at(s, x.off)
		if err != nil {
			// Damage: known ones were counted at open; step over it.
			next := int64(-1)
			if !errors.Is(err, errEnd) {
				next = findRecord(&x.rd, s, x.off+1, s.end)
			}
			if !s.holes {
				o.stats.Dropped[LostUnreadable]++
				o.stateDirt = true
			}
			if next < 0 {
				x.off = s.end
			} else {
				x.off = next
			}
			continue
		}
		rec, err := decodeRaw(body)
		if err != nil || rec.dict {
			x.off += n
			continue
		}
		dev, ok := rec.deviceOf(s.dicts)
		if !ok || string(dev) != x.dev || rec.seq < x.next {
			x.off += n
			continue
		}
		if rec.seq > x.visible {
			return Record{}, false // written, not yet durable
		}
		x.off += n
		x.next = rec.seq + 1
		head := len(historicalHead) - 1
		js, err := rec.envelope(s.dicts, make([]byte, head, head+rec.size(s.dicts)))
		if err != nil {
			if !s.holes {
				o.stats.Dropped[LostUnreadable]++
				o.stateDirt = true
			}
			continue
		}
		return Record{Device: x.dev, Incarnation: x.inc, Seq: rec.seq, Class: rec.class, Taken: time.UnixMilli(int64(rec.taken)), JSON: js[head:], room: js}, true
	}
}

// Ack marks every record of device in incarnation inc up to seq delivered.
// The publisher acks a device's records in order.
func (o *Outbox) Ack(inc, device string, seq uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	x := o.streams[streamKey{inc, device}]
	if x == nil || seq <= x.acked {
		return
	}
	x.acked = seq
	o.acksDirt = true
	if x.trimAt == 0 || seq >= x.trimAt {
		o.trim()
		// The next ack worth a look: the end of this stream's oldest sealed
		// segment not yet delivered (acks come at 20,000/s in a drain).
		x.trimAt = math.MaxUint64
		for _, s := range o.segs {
			if d := s.devs[x.dev]; s.sealed && s.inc == x.inc && d != nil && d.last > x.acked {
				x.trimAt = d.last
				break
			}
		}
	}
}

// sealed takes a segment out of appends; streams look again at what may be
// freed.
func (o *Outbox) seal(s *segment) {
	s.sealed, s.dictIdx = true, nil
	for _, x := range o.order {
		x.trimAt = 0
	}
}

// trim deletes delivered segments beyond the retention budget; none are
// retained when the filesystem is short of space (the disk is the box's,
// not the outbox's).
func (o *Outbox) trim() {
	var retained int64
	budget := int64(-1)
	for i := len(o.segs) - 1; i >= 0; i-- {
		s := o.segs[i]
		if !s.sealed || o.touched[s] || o.syncing[s] || !o.delivered(s) {
			continue
		}
		if budget < 0 {
			budget = o.opts.RetainBytes
			var fs syscall.Statfs_t
			if syscall.Statfs(o.dir, &fs) == nil && int64(fs.Bavail)*fs.Bsize < 4*o.opts.RetainBytes {
				budget = 0
			}
		}
		retained += s.cap
		if retained > budget {
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
	for _, x := range o.order {
		if x.next != x.acked+1 {
			x.next, x.cur = x.acked+1, nil
		}
	}
	close(o.wake)
	o.wake = make(chan struct{})
}

// Resend makes the reader deliver device's records of incarnation inc (""
// for the current one) again from seq from (the hub saw a gap). It returns
// the ranges in [from, last taken] that the outbox no longer holds (dropped,
// lost, or delivered and deleted), at most 32.
func (o *Outbox) Resend(inc, device string, from uint64) (missing [][2]uint64, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if inc == "" {
		inc = o.inc.ID
	}
	x := o.streams[streamKey{inc, device}]
	if x == nil {
		return nil, fmt.Errorf("outbox: no device %q in incarnation %q", device, inc)
	}
	from = max(from, 1)
	if from > x.seq {
		return nil, nil
	}
	want := from
	var r reader
	for _, s := range o.segs {
		d := s.devs[device]
		if s.inc != inc || d == nil || d.last < from {
			continue
		}
		for off := d.firstOff; off < s.end && len(missing) < 32; {
			body, n, err := r.at(s, off)
			if err != nil {
				next := findRecord(&r, s, off+1, s.end)
				if next < 0 {
					break
				}
				off = next
				continue
			}
			off += n
			rec, err := decodeRaw(body)
			if err != nil || rec.dict || rec.seq < want {
				continue
			}
			if dev, ok := rec.deviceOf(s.dicts); !ok || string(dev) != device {
				continue
			}
			if rec.seq > want {
				missing = append(missing, [2]uint64{want, rec.seq - 1})
			}
			want = rec.seq + 1
		}
	}
	if want <= x.seq && len(missing) < 32 {
		missing = append(missing, [2]uint64{want, x.seq})
	}
	if from < x.next {
		x.next, x.cur = from, nil
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
	s.Incarnation, s.IncarnationSince, s.IncarnationReason = o.inc.ID, o.inc.Since, o.inc.Reason
	s.Segments, s.DiskBytes = len(o.segs), o.diskBytes()
	for _, seg := range o.segs {
		for dev, d := range seg.devs {
			x := o.streams[streamKey{seg.inc, dev}]
			switch {
			case x == nil || x.acked < d.first:
				s.Records += int64(d.count)
				s.Bytes += d.bytes
			case x.acked < d.last:
				// Part delivered: a device's records in a segment are
				// consecutive but for drops, so this is close.
				frac := float64(d.last-x.acked) / float64(d.last-d.first+1)
				s.Records += int64(frac*float64(d.count) + 0.5)
				s.Bytes += int64(frac * float64(d.bytes))
			}
		}
	}
	return s
}

// Depth is the number of bytes not yet acknowledged.
func (o *Outbox) Depth() int64 { return o.Stats().Bytes }

// LastSeq is the highest sequence number of the current incarnation taken
// for device.
func (o *Outbox) LastSeq(device string) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if x := o.streams[streamKey{o.inc.ID, device}]; x != nil {
		return x.seq
	}
	return o.stateSeq[device]
}

// Acked is the highest sequence number of device in the current
// incarnation the hub acknowledged.
func (o *Outbox) Acked(device string) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if x := o.streams[streamKey{o.inc.ID, device}]; x != nil {
		return x.acked
	}
	return 0
}

// ackLoop saves acknowledgements at most once a second, without fsync: the
// SD card sees one page per interval instead of one per reading. Loss
// counters not yet saved go to state.json then too.
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
			if o.stateDirt {
				o.saveState()
			}
			o.trim() // retention may have waited for a busy segment
			o.mu.Unlock()
		}
	}
}

func (o *Outbox) saveAcks() {
	if !o.acksDirt || o.ackFile == nil {
		return
	}
	acks := map[string]map[string]uint64{}
	for k, x := range o.streams {
		if acks[k.inc] == nil {
			acks[k.inc] = map[string]uint64{}
		}
		acks[k.inc][k.dev] = x.acked
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
	if o.stateDirt {
		o.saveState()
	}
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

// legacyState is the state.json of an edged before incarnations.
type legacyState struct {
	Seq     map[string]uint64 `json:"seq"`
	Acked   map[string]uint64 `json:"acked"`
	Dropped map[string]int64  `json:"dropped"`
	Refused int64             `json:"refused"`
}

func (l legacyState) upgrade() stateFile {
	return stateFile{
		Past: map[string]map[string]uint64{"": l.Seq}, Acked: map[string]map[string]uint64{"": l.Acked},
		Dropped: l.Dropped, Refused: l.Refused,
	}
}

// upgradeSegment rewrites a segment of an edged before incarnations (u32
// length, u32 CRC-32C, body: class, u8 len, device, u64 seq, i64 taken ms,
// envelope) in this format, its readings under the empty incarnation (they
// are v1 envelopes), and reports whether it did. A torn tail ends the data,
// as it did then.
func (o *Outbox) upgradeSegment(f *os.File, name string, size int64) bool {
	if size > 1<<30 {
		return false
	}
	old := make([]byte, size)
	if _, err := f.ReadAt(old, 0); err != nil {
		return false
	}
	seg := &segment{num: 0, devs: map[string]*segDev{}, dictIdx: map[string]uint64{}, end: dataStart}
	out := make([]byte, dataStart)
	for off := 0; off+8 <= len(old); {
		n := int(binary.LittleEndian.Uint32(old[off:]))
		if n < 18 || n > maxRecord || off+8+n > len(old) {
			break
		}
		body := old[off+8 : off+8+n]
		if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(old[off+4:]) {
			break
		}
		dl := int(body[1])
		if dl == 0 || 2+dl+16 > len(body) || body[0] > byte(Routine) {
			break
		}
		dev := string(body[2 : 2+dl])
		seq := binary.BigEndian.Uint64(body[2+dl:])
		taken := int64(binary.BigEndian.Uint64(body[2+dl+8:]))
		rec, dicts := o.encode(seg, Class(body[0]), dev, seq, taken, body[2+dl+16:])
		for _, d := range dicts {
			seg.dicts = append(seg.dicts, d)
			seg.dictIdx[string(d)] = uint64(len(seg.dicts))
			seg.dictBytes += len(d)
		}
		seg.note(dev, seq, int64(len(out)), int64(len(rec)), Class(body[0]))
		out = append(out, rec...)
		off += 8 + n
	}
	if seg.records == 0 {
		return false
	}
	seg.end = int64(len(out))
	copy(out, seg.slot())
	tmp := name + ".tmp"
	if writeSync(tmp, out) != nil || os.Rename(tmp, name) != nil {
		os.Remove(tmp)
		return false
	}
	syncDir(o.dir)
	return true
}

// allZero reports whether a file holds only zeros.
func allZero(f *os.File, size int64) bool {
	buf := make([]byte, readChunk)
	for off := int64(0); off < size; {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		for _, c := range buf[:n] {
			if c != 0 {
				return false
			}
		}
		if err != nil || n == 0 {
			return err == nil || errors.Is(err, io.EOF)
		}
		off += int64(n)
	}
	return true
}
