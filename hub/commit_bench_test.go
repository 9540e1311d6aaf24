package hub

import (
	"bytes"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/kordon/kordon/internal/logging"
)

// BenchmarkCommitPath measures what the hub does for a routine reading
// after it is parsed: the group commit (reading, activity, the rules'
// state, the after-commit subscribers), from 200 boxes' queues at once. In
// the same run its peer inserts the same rows into the same table in
// batches of the same size, one prepared statement per batch and nothing
// else: the floor SQLite sets. It reports both rates and the ratio, for
// batches as large as a backlog makes them and as small as light load does.
func BenchmarkCommitPath(b *testing.B) {
	for _, batch := range []int{1024, 16} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { benchCommitPath(b, batch, false) })
	}
}

// BenchmarkCommitPathDocuments is BenchmarkCommitPath with document
// readings, each raising an alert (and its log entry) in the reading's
// transaction; the peer still inserts only the readings, so the ratio
// shows what the alerts cost.
func BenchmarkCommitPathDocuments(b *testing.B) {
	for _, batch := range []int{1024, 16} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { benchCommitPath(b, batch, true) })
	}
}

func benchCommitPath(b *testing.B, batch int, documents bool) {
	const boxes = 200
	n := max(b.N, boxes)
	h := benchHub(b, batch)
	jobs := make([]*job, n)
	var doc []byte
	if documents {
		doc = specimen(b, "box-001", "reader1", 1)
	}
	start := time.Now()
	for i := range jobs {
		box, device, seq := fmt.Sprintf("box-%03d", i%boxes+1), "thermo1", uint64(i/boxes+1)
		msg := routineReading(box, device, seq)
		if documents {
			device = "reader1"
			msg = bytes.Replace(withSeq(doc, seq), []byte(`"box":"box-001"`), []byte(`"box":"`+box+`"`), 1)
			msg = bytes.Replace(msg, []byte(originOf(b, doc)), []byte(start.Add(time.Duration(i)*time.Millisecond).UTC().Format(time.RFC3339Nano)), 1)
		}
		jobs[i] = h.ingest.readingJob(box, device, packets.Packet{Payload: msg})
		if jobs[i].kind != jobReading {
			b.Fatalf("reading %d refused: %+v", i, jobs[i])
		}
	}
	b.ResetTimer()
	start = time.Now()
	cpu0 := processCPU(b)
	var wg sync.WaitGroup
	wg.Add(len(jobs))
	for _, j := range jobs {
		if err := h.commit.Submit(j, func(error) { wg.Done() }); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	hub := time.Since(start)
	cpu := processCPU(b) - cpu0
	b.StopTimer()
	if got := h.Counters().Readings; got != int64(n) {
		b.Fatalf("stored %d of %d", got, n)
	}
	if documents {
		var alerts int
		h.store.rd.QueryRow(`SELECT COUNT(*) FROM alerts`).Scan(&alerts)
		if alerts < n {
			b.Fatalf("%d alerts for %d documents", alerts, n)
		}
	}

	peer := bareInserts(b, jobs, batch)
	hubRate, peerRate := float64(n)/hub.Seconds(), float64(n)/peer.Seconds()
	b.ReportMetric(hubRate, "hub-readings/s")
	b.ReportMetric(peerRate, "bare-readings/s")
	b.ReportMetric(hubRate/peerRate, "hub/bare")
	// The process's CPU while the hub committed (the submitting loop
	// beside it costs little): unlike the rates, it hardly moves when
	// other work shares the machine.
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/reading")
}

// processCPU is the CPU time, user and system, this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchHub(b *testing.B, batch int) *Hub {
	b.Helper()
	cfg := &Config{Crossing: testCrossing, DataDir: b.TempDir(), Ingest: IngestConfig{CommitBatch: batch}}
	for i := range 200 {
		cfg.Boxes = append(cfg.Boxes, BoxCreds{Box: fmt.Sprintf("box-%03d", i+1), PasswordHash: "$2a$04$unused"})
	}
	h, err := New(cfg, logging.Discard())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	return h
}

func routineReading(box, device string, seq uint64) []byte {
	return []byte(`{"schema":"kordon.reading/2","crossing":"` + testCrossing + `","box":"` + box + `","device":"` + device +
		`","kind":"temperature","driver":"calex","incarnation":"3f9a1c0d7e2b4a65","seq":` + strconv.FormatUint(seq, 10) +
		`,"origin":"2026-12-01T11:00:00.123456Z","clock":"synced","quality":{"status":"ok"},"payload":{"sensor":"lane-1","model":"calex-pyrousb","celsius":36.5,"measured_celsius":36.5,"housing_celsius":25,"emissivity":0.98,"fever":false,"fever_threshold":37.5,"events":[],"cause":"change"}}`)
}

// bareInserts writes the jobs' rows into a fresh database of the hub's
// schema, batch rows a transaction, one prepared insert.
func bareInserts(b *testing.B, jobs []*job, batch int) time.Duration {
	b.Helper()
	dir := b.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "bare.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schemaSQL); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for len(jobs) > 0 {
		part := jobs[:min(batch, len(jobs))]
		jobs = jobs[len(part):]
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		st, err := tx.Prepare(`INSERT INTO readings(box, incarnation, device, seq, kind, origin, received, quality, body) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`)
		if err != nil {
			b.Fatal(err)
		}
		for _, j := range part {
			if _, err := st.Exec(j.ref.Box, j.ref.Incarnation, j.ref.Device, j.ref.Seq, j.readingKind, stamp(j.origin), stamp(j.received), j.quality, j.body); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}
