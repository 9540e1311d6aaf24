package hub

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/kordon/kordon/internal/contract"
)

// BenchmarkWALPages reports how many pages a commit writes to the WAL for
// document readings (each raising an alert) at several batch sizes: the
// disk load a flood of small commits makes (what fairLinger reduces).
func BenchmarkWALPages(b *testing.B) {
	for range b.N {
		for _, per := range []int{1, 4, 16, 64} {
			w := walPages(b, per, 10)
			b.ReportMetric(w.perCommit(), fmt.Sprintf("pages/commit-of-%d", per))
		}
	}
}

// A commit of one document reading, the alert it raises and their log
// entries writes at most walBound1 pages (10.5 measured; 11.6 when alert
// ids were bare hashes and alert_log had AUTOINCREMENT), and one of 64 at
// most walBound64 (69.5 measured; 134 then). The tables already hold
// thousands of alerts, so a key that does not follow the last one lands
// on a page of its own.
const (
	walBound1  = 11
	walBound64 = 75
)

// TestWALPagesPerCommit holds the pages a commit writes to what the store
// needs: the reading's row and its two indexes, the activity count, the
// alert's row and its indexes, the log entry and its index, page 1 as the
// file grows. Every page is a 4 KiB write and part of the fsync that each
// PUBACK waits for. It logs which b-tree each page belongs to.
func TestWALPagesPerCommit(t *testing.T) {
	for _, c := range []struct{ per, commits, bound int }{{1, 20, walBound1}, {64, 10, walBound64}} {
		w := walPages(t, c.per, c.commits)
		t.Logf("commits of %d document readings: %.1f pages per commit: %s", c.per, w.perCommit(), w.byTree())
		if got := w.perCommit(); got > float64(c.bound) {
			t.Errorf("commits of %d document readings write %.1f WAL pages each, want at most %d: %s", c.per, got, c.bound, w.byTree())
		}
	}
}

// walCount is what a run of commits wrote to the WAL.
type walCount struct {
	commits int
	pages   map[string]int // by b-tree (table or index), over every commit
}

func (w walCount) perCommit() float64 {
	n := 0
	for _, v := range w.pages {
		n += v
	}
	return float64(n) / float64(w.commits)
}

func (w walCount) byTree() string {
	names := make([]string, 0, len(w.pages))
	for k := range w.pages {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return w.pages[names[i]] > w.pages[names[j]] })
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, " %s %.1f", n, float64(w.pages[n])/float64(w.commits))
	}
	return b.String()
}

// walPages commits `commits` batches of per document readings on a store
// that already holds alerts (a station's is never empty), and counts the
// distinct pages each commit wrote to the WAL, by b-tree.
func walPages(t testing.TB, per, commits int) walCount {
	h := newHostileHub(t, func(c *Config) {
		if per > 1 {
			// The batch's first job waits for the others, so that each
			// commit holds per of them.
			c.Ingest.CommitWait = Duration(200 * time.Millisecond)
		}
	})
	defer h.Close()
	h.store.ckpt.stop()
	h.store.ckpt = startCheckpointer(h.store.rd, 1<<40) // a stopped one for Close
	prefillAlerts(t, h, 5000)
	wal := filepath.Join(h.cfg.DataDir, "hub.db-wal")
	size := func() int64 {
		fi, err := os.Stat(wal)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	one := specimen(t, "booth2", "reader1", 1)
	origin := originOf(t, one)
	seq := uint64(0)
	before := size()
	for range commits {
		var wg sync.WaitGroup
		jobs := make([]*job, per)
		for i := range jobs {
			seq++
			// Each document read a millisecond after the one before.
			msg := bytes.Replace(withSeq(one, seq), []byte(origin), []byte(mustParse(t, origin).Add(time.Duration(seq)*time.Millisecond).Format(time.RFC3339Nano)), 1)
			jobs[i] = h.ingest.readingJob("booth2", "reader1", packets.Packet{Payload: msg})
			if len(jobs[i].match.rules) == 0 && len(jobs[i].watch) == 0 {
				t.Fatal("the specimen document matches no rule")
			}
		}
		wg.Add(per)
		for _, j := range jobs {
			h.commit.Submit(j, func(err error) {
				if err != nil {
					t.Error(err)
				}
				wg.Done()
			})
		}
		wg.Wait()
	}
	var alerts int
	h.store.rd.QueryRow(`SELECT COUNT(*) FROM alerts`).Scan(&alerts)
	if alerts < 5000+per*commits {
		t.Fatalf("%d alerts stored, want every reading's (%d)", alerts-5000, per*commits)
	}
	frames := walFrames(t, wal, before)
	trees := pageTrees(t, h)
	w := walCount{pages: map[string]int{}}
	for _, commit := range frames {
		if !slices.ContainsFunc(commit, func(pg uint32) bool { return trees[pg] == "readings" }) {
			continue // the gap tracker saving its marks, beside ingest
		}
		w.commits++
		for _, pg := range commit {
			name := trees[pg]
			if name == "" {
				name = fmt.Sprintf("page-%d", pg) // page 1's header, or a freed page
				if pg != 1 {
					name = "other"
				}
			}
			w.pages[name]++
		}
	}
	if w.commits != commits {
		t.Fatalf("%d commits in the WAL, want %d", w.commits, commits)
	}
	return w
}

// originOf returns the origin of a reading as written in it.
func originOf(t testing.TB, msg []byte) string {
	var r struct{ Origin string }
	if err := json.Unmarshal(msg, &r); err != nil || r.Origin == "" {
		t.Fatalf("no origin in %s: %v", msg, err)
	}
	return r.Origin
}

func mustParse(t testing.TB, s string) time.Time {
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// prefillAlerts stores n alerts (and their log entries) in one
// transaction, as if raised over past days.
func prefillAlerts(t testing.TB, h *Hub, n int) {
	tx, err := h.store.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	q := h.store.in(tx)
	start := time.Now().Add(-30 * 24 * time.Hour)
	for i := range n {
		at := start.Add(time.Duration(i) * time.Minute)
		ref := contract.ReadingRef{Box: "booth1", Device: "reader1", Seq: uint64(i + 1)}
		a := contract.Alert{Schema: contract.AlertV1, ID: alertID(testCrossing, "prefill", []contract.ReadingRef{ref}, at), Crossing: testCrossing,
			Box: ref.Box, Device: ref.Device, Rule: "prefill", Severity: "info", Summary: "an alert of the past", Time: at, Raised: at,
			State: "open", Readings: []contract.ReadingRef{ref}}
		if _, err := insertAlert(q, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// walFrames reads the WAL from offset from (a frame boundary) and returns
// the distinct pages of each commit, in order.
func walFrames(t testing.TB, wal string, from int64) [][]uint32 {
	f, err := os.Open(wal)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if from < 32 {
		from = 32 // the WAL's header
	}
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	const pageSize = 4096
	frame := make([]byte, 24+pageSize)
	var out [][]uint32
	var cur []uint32
	for {
		if _, err := io.ReadFull(f, frame); err != nil {
			break
		}
		pg := binary.BigEndian.Uint32(frame[0:4])
		if !slices.Contains(cur, pg) {
			cur = append(cur, pg)
		}
		if binary.BigEndian.Uint32(frame[4:8]) != 0 { // the commit's last frame
			out = append(out, cur)
			cur = nil
		}
	}
	return out
}

// pageTrees names the b-tree each page of the database belongs to.
func pageTrees(t testing.TB, h *Hub) map[uint32]string {
	rows, err := h.store.db.Query(`SELECT name, pageno FROM dbstat`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	m := map[uint32]string{}
	for rows.Next() {
		var name string
		var pg uint32
		if err := rows.Scan(&name, &pg); err != nil {
			t.Fatal(err)
		}
		m[pg] = name
	}
	return m
}
