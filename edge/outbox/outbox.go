// Package outbox is the box's durable queue between drivers and the hub.
// A reading counts as taken once Append has returned: it is on disk (fsync)
// and survives kill -9 and a power cut. The publisher reads records in the
// order they were taken and acknowledges them once the broker has.
//
// On disk (one directory):
//
//	outbox.log  records: u32 length, u32 CRC-32C of the body, body
//	            body: u8 len(device), device, u64 seq, JSON envelope
//	outbox.ack  u64 offset of the first record not yet acknowledged
//	seq.json    the highest sequence per device, written before the log
//	            is truncated, so numbers keep growing across compaction
//
// A torn record at the tail (power cut mid-write) is cut off on open.
// Acknowledgements are written without fsync: after a crash the box may
// resend a few readings, which the hub drops by (box, device, seq).
package outbox

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	headerLen = 8
	maxRecord = 1 << 20
	// compactAt is the log size above which a fully acknowledged log is truncated.
	compactAt = 4 << 20
)

// Record is one stored reading.
type Record struct {
	Device string
	Seq    uint64
	JSON   []byte
	end    int64 // offset just past this record
}

// Outbox is safe for one appender per device and one reader at a time.
type Outbox struct {
	dir string

	mu      sync.Mutex
	log     *os.File
	ackFile *os.File
	size    int64             // end of the last complete record
	acked   int64             // offset of the first unacknowledged record
	read    int64             // reader cursor
	seq     map[string]uint64 // highest sequence taken per device
	wake    chan struct{}     // closed and replaced on every append
	// TornBytes counts bytes cut from the tail at open (a torn write).
	TornBytes int64
}

// Open opens (or creates) the outbox in dir and recovers its state.
func Open(dir string) (*Outbox, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	o := &Outbox{dir: dir, seq: map[string]uint64{}, wake: make(chan struct{})}
	if b, err := os.ReadFile(filepath.Join(dir, "seq.json")); err == nil {
		if err := json.Unmarshal(b, &o.seq); err != nil {
			return nil, fmt.Errorf("outbox: seq.json: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var err error
	if o.log, err = os.OpenFile(filepath.Join(dir, "outbox.log"), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, err
	}
	if o.ackFile, err = os.OpenFile(filepath.Join(dir, "outbox.ack"), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		o.log.Close()
		return nil, err
	}
	if err := o.recover(); err != nil {
		o.Close()
		return nil, err
	}
	return o, nil
}

func (o *Outbox) recover() error {
	var off int64
	for {
		rec, next, err := readAt(o.log, off)
		if err != nil {
			break
		}
		if rec.Seq > o.seq[rec.Device] {
			o.seq[rec.Device] = rec.Seq
		}
		off = next
	}
	st, err := o.log.Stat()
	if err != nil {
		return err
	}
	if st.Size() > off {
		o.TornBytes = st.Size() - off
		if err := o.log.Truncate(off); err != nil {
			return err
		}
		if err := o.log.Sync(); err != nil {
			return err
		}
	}
	o.size = off
	var b [8]byte
	if n, _ := o.ackFile.ReadAt(b[:], 0); n == 8 {
		o.acked = int64(binary.LittleEndian.Uint64(b[:]))
	}
	if o.acked > o.size {
		o.acked = o.size
	}
	o.read = o.acked
	return nil
}

// Append takes a reading for device: it assigns the next sequence number,
// lets build render the envelope with it, and returns once it is on disk.
func (o *Outbox) Append(device string, build func(seq uint64) ([]byte, error)) (uint64, error) {
	if len(device) == 0 || len(device) > 255 {
		return 0, fmt.Errorf("outbox: bad device id")
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	seq := o.seq[device] + 1
	js, err := build(seq)
	if err != nil {
		return 0, err
	}
	body := make([]byte, 0, 1+len(device)+8+len(js))
	body = append(body, byte(len(device)))
	body = append(body, device...)
	body = binary.BigEndian.AppendUint64(body, seq)
	body = append(body, js...)
	if len(body) > maxRecord {
		return 0, fmt.Errorf("outbox: record of %d bytes exceeds %d", len(body), maxRecord)
	}
	buf := make([]byte, headerLen, headerLen+len(body))
	binary.LittleEndian.PutUint32(buf[0:], uint32(len(body)))
	binary.LittleEndian.PutUint32(buf[4:], crc32.Checksum(body, castagnoli))
	buf = append(buf, body...)
	if _, err := o.log.WriteAt(buf, o.size); err != nil {
		return 0, fmt.Errorf("outbox: write: %w", err)
	}
	if err := o.log.Sync(); err != nil {
		return 0, fmt.Errorf("outbox: fsync: %w", err)
	}
	o.size += int64(len(buf))
	o.seq[device] = seq
	close(o.wake)
	o.wake = make(chan struct{})
	return seq, nil
}

// Next blocks until a record past the reader's cursor exists and returns it.
func (o *Outbox) Next(ctx context.Context) (Record, error) {
	for {
		o.mu.Lock()
		if o.read < o.size {
			rec, _, err := readAt(o.log, o.read)
			o.mu.Unlock()
			return rec, err
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

// Ack marks rec (the record Next returned last) delivered and moves the
// cursor past it.
func (o *Outbox) Ack(rec Record) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if rec.end <= o.acked {
		return nil
	}
	o.acked, o.read = rec.end, rec.end
	if o.acked == o.size && o.size > compactAt {
		return o.compact()
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(o.acked))
	_, err := o.ackFile.WriteAt(b[:], 0)
	return err
}

// Rewind makes the reader deliver again every unacknowledged record; the
// publisher calls it after losing its connection.
func (o *Outbox) Rewind() {
	o.mu.Lock()
	o.read = o.acked
	o.mu.Unlock()
}

// compact truncates a fully acknowledged log, saving the sequence numbers first.
func (o *Outbox) compact() error {
	b, _ := json.Marshal(o.seq)
	tmp := filepath.Join(o.dir, "seq.json.tmp")
	if err := writeSync(tmp, b); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(o.dir, "seq.json")); err != nil {
		return err
	}
	if err := o.log.Truncate(0); err != nil {
		return err
	}
	o.size, o.acked, o.read = 0, 0, 0
	var z [8]byte
	_, err := o.ackFile.WriteAt(z[:], 0)
	return err
}

// Depth is the number of bytes not yet acknowledged.
func (o *Outbox) Depth() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.size - o.acked
}

// LastSeq is the highest sequence number taken for device.
func (o *Outbox) LastSeq(device string) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seq[device]
}

// Close closes the files; appended records are already on disk.
func (o *Outbox) Close() error {
	var err error
	if o.log != nil {
		err = o.log.Close()
	}
	if o.ackFile != nil {
		if e := o.ackFile.Close(); err == nil {
			err = e
		}
	}
	return err
}

func readAt(f *os.File, off int64) (Record, int64, error) {
	var h [headerLen]byte
	if _, err := f.ReadAt(h[:], off); err != nil {
		return Record{}, 0, err
	}
	n := binary.LittleEndian.Uint32(h[0:])
	if n < 10 || n > maxRecord {
		return Record{}, 0, fmt.Errorf("outbox: bad record length %d at %d", n, off)
	}
	body := make([]byte, n)
	if _, err := f.ReadAt(body, off+headerLen); err != nil {
		if errors.Is(err, io.EOF) {
			return Record{}, 0, io.ErrUnexpectedEOF
		}
		return Record{}, 0, err
	}
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(h[4:]) {
		return Record{}, 0, fmt.Errorf("outbox: CRC mismatch at %d", off)
	}
	dl := int(body[0])
	if 1+dl+8 > len(body) {
		return Record{}, 0, fmt.Errorf("outbox: bad record at %d", off)
	}
	end := off + headerLen + int64(n)
	return Record{
		Device: string(body[1 : 1+dl]),
		Seq:    binary.BigEndian.Uint64(body[1+dl:]),
		JSON:   body[1+dl+8:],
		end:    end,
	}, end, nil
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
