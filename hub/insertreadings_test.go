package hub

import (
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/kordon/kordon/internal/logging"
)

// TestFastPathTellsDuplicatesAndRowids: a batch holding readings stored by
// an earlier batch, and one reading twice, stores each new reading once,
// marks exactly the new ones added, and gives each the id of its own row.
func TestFastPathTellsDuplicatesAndRowids(t *testing.T) {
	cfg := &Config{Crossing: testCrossing, DataDir: t.TempDir(), Boxes: []BoxCreds{{Box: "box-001", PasswordHash: "$2a$04$unused"}}}
	h, err := New(cfg, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	reading := func(seq uint64) *job {
		j := h.ingest.readingJob("box-001", "thermo1", packets.Packet{Payload: routineReading("box-001", "thermo1", seq)})
		if j.kind != jobReading {
			t.Fatalf("reading %d refused", seq)
		}
		return j
	}
	apply := func(jobs ...*job) {
		t.Helper()
		tx, err := h.store.db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if err := h.pipeline.ApplyAll(tx, jobs); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		h.pipeline.Committed(jobs)
		h.pipeline.Durable(jobs, nil)
	}
	apply(reading(1), reading(2))
	batch := []*job{reading(2), reading(3), reading(1), reading(3), reading(4)}
	apply(batch...)
	for i, want := range []bool{false, true, false, false, true} {
		j := batch[i]
		if j.added != want {
			t.Errorf("job %d (seq %d): added=%v, want %v", i, j.ref.Seq, j.added, want)
		}
		if !j.added {
			if j.rowid != 0 {
				t.Errorf("job %d (seq %d), a duplicate, names row %d", i, j.ref.Seq, j.rowid)
			}
			continue
		}
		var seq uint64
		if err := h.store.db.QueryRow(`SELECT seq FROM readings WHERE id = ?`, j.rowid).Scan(&seq); err != nil || seq != j.ref.Seq {
			t.Errorf("job %d (seq %d): row %d holds seq %d (%v)", i, j.ref.Seq, j.rowid, seq, err)
		}
	}
	var n int
	h.store.db.QueryRow(`SELECT COUNT(*) FROM readings`).Scan(&n)
	if n != 4 {
		t.Errorf("%d readings stored, want 4", n)
	}
}

// TestStoredOfRefusesASkippedReading: a reading the insert skipped that is
// not a duplicate (its key is not stored: its id was taken, say) is an
// error, which sends the batch job by job, never a duplicate PUBACKed.
func TestStoredOfRefusesASkippedReading(t *testing.T) {
	cfg := &Config{Crossing: testCrossing, DataDir: t.TempDir(), Boxes: []BoxCreds{{Box: "box-001", PasswordHash: "$2a$04$unused"}}}
	h, err := New(cfg, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	j := h.ingest.readingJob("box-001", "thermo1", packets.Packet{Payload: routineReading("box-001", "thermo1", 1)})
	tx, err := h.store.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	// The statement stored one row, another reading's: j was skipped.
	if _, err := tx.Exec(`INSERT INTO readings(id, box, device, seq, kind, origin, received, quality, body) VALUES (1, 'box-001', 'thermo1', 99, 'temperature', '', '', '', '{}')`); err != nil {
		t.Fatal(err)
	}
	if err := storedOf(h.store.in(tx), []*job{j}, 0, 1); err == nil {
		t.Fatalf("a reading neither stored nor there before passed (added=%v)", j.added)
	}
}
