package blo

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kordon/kordon/blo/blotest"
	"github.com/kordon/kordon/internal/contract"
)

// memSource is a hub's committed alerts and log, in memory. Like the hub,
// it tells its engine (once attached) what each commit stored.
type memSource struct {
	mu       sync.Mutex
	alerts   []contract.Alert
	log      []Transition
	readings map[contract.ReadingRef][]byte
	engine   *Engine // told of each commit, when set
}

func newMemSource() *memSource { return &memSource{readings: map[contract.ReadingRef][]byte{}} }

// add commits an alert and its "raised" log entry.
func (m *memSource) add(a contract.Alert, reading string) {
	m.mu.Lock()
	m.alerts = append(m.alerts, a)
	for _, r := range a.Readings {
		m.readings[r] = []byte(reading)
	}
	t := Transition{Seq: int64(len(m.log) + 1), AlertID: a.ID, Action: "raised", Time: time.Now()}
	m.log = append(m.log, t)
	e := m.engine
	m.mu.Unlock()
	if e != nil {
		e.Committed([]contract.Alert{a}, []Transition{t})
	}
}

func (m *memSource) act(id, action, user string) {
	m.mu.Lock()
	t := Transition{Seq: int64(len(m.log) + 1), AlertID: id, Action: action, User: user, Role: "officer", Time: time.Now()}
	m.log = append(m.log, t)
	e := m.engine
	m.mu.Unlock()
	if e != nil {
		e.Committed(nil, []Transition{t})
	}
}

func (m *memSource) attach(e *Engine) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.engine = e
}

func (m *memSource) TransitionsAfter(_ context.Context, seq int64, limit int) ([]Transition, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if int(seq) >= len(m.log) {
		return nil, nil
	}
	end := min(len(m.log), int(seq)+limit)
	return append([]Transition(nil), m.log[seq:end]...), nil
}

func (m *memSource) Alert(_ context.Context, id string) (contract.Alert, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range m.alerts {
		if a.ID == id {
			return a, nil
		}
	}
	return contract.Alert{}, ErrNoAlert
}

func (m *memSource) Readings(_ context.Context, refs []contract.ReadingRef) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out [][]byte
	for _, r := range refs {
		if b, ok := m.readings[r]; ok {
			out = append(out, b)
		}
	}
	return out, nil
}

func (m *memSource) Counts(context.Context, time.Time, time.Time) (map[string]int64, error) {
	return map[string]int64{"document": 3}, nil
}

const rpmReading = `{"schema":"kordon.reading/2","crossing":"kordai","box":"b1","device":"rpm1","seq":1,"kind":"radiation",
 "personal":[],"payload":{"event":"alarm","alarm":{"channel":"gamma","detector":2,"sigma":9},"operator":"secret-field"}}`

func writePolicy(t *testing.T, dir, name, src string) string {
	p := filepath.Join(dir, name)
	blotest.WriteFile(t, p, src)
	return p
}

type sharePair struct {
	a, b       *Engine
	srcA, srcB *memSource
}

func startPair(t *testing.T) *sharePair {
	dir := t.TempDir()
	sa, sb := blotest.NewSite(t, dir, "kordai"), blotest.NewSite(t, dir, "akzhol")
	blotest.WriteFile(t, filepath.Join(dir, "k.key"), "00112233445566778899aabbccddeeff\n")
	pa := writePolicy(t, dir, "a.yaml", "policy: kordai-akzhol/1\nneighbour: akzhol\nauto: [{rule: rpm-alarm}]\nmanual: [{rule: fever}]\n"+
		"handling_codes: [H1, H2]\nalert_fields: [summary, severity]\nreading_fields: [/payload/alarm/channel, /payload/alarm/sigma]\n")
	pb := writePolicy(t, dir, "b.yaml", "policy: akzhol-kordai/1\nneighbour: kordai\nauto: [{rule: rpm-alarm}]\n")
	addr := blotest.FreeAddr(t)
	sp := &sharePair{srcA: newMemSource(), srcB: newMemSource()}
	var err error
	sp.a, err = Start("kordai", &Config{Listen: addr, Cert: sa.CertFile, Key: sa.KeyFile,
		Neighbours: []Neighbour{{Peer: Peer{Site: "akzhol", CA: sb.CAFile}, Policy: pa}}}, t.TempDir(), filepath.Join(t.TempDir(), "a.db"), sp.srcA, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.a.Close() })
	sp.b, err = Start("akzhol", &Config{Cert: sb.CertFile, Key: sb.KeyFile,
		Neighbours: []Neighbour{{Peer: Peer{Site: "kordai", CA: sa.CAFile, URLs: []string{"tls://" + addr}}, Policy: pb}}}, t.TempDir(), filepath.Join(t.TempDir(), "b.db"), sp.srcB, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.b.Close() })
	sp.srcA.attach(sp.a)
	sp.srcB.attach(sp.b)
	for _, e := range []*Engine{sp.a, sp.b} {
		if err := e.Run(); err != nil {
			t.Fatal(err)
		}
	}
	return sp
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAutomaticShareAndReceipts(t *testing.T) {
	sp := startPair(t)
	ctx := context.Background()
	sp.srcA.add(contract.Alert{ID: "a1", Box: "b1", Device: "rpm1", Rule: "rpm-alarm", Severity: "critical", Summary: "Radiation portal alarm",
		Readings: []contract.ReadingRef{{Box: "b1", Device: "rpm1", Seq: 1}}}, rpmReading)
	sp.srcA.add(contract.Alert{ID: "a2", Box: "b1", Device: "rpm1", Rule: "box-tamper", Severity: "high",
		Readings: []contract.ReadingRef{{Box: "b1", Device: "rpm1", Seq: 1}}}, rpmReading)
	start := time.Now()
	var in []Incoming
	waitFor(t, "the share at akzhol", func() bool {
		in, _ = sp.b.Incoming(ctx, 10)
		return len(in) == 1
	})
	t.Logf("share latency %v", time.Since(start))
	sh := in[0].Share
	js, _ := json.Marshal(sh)
	if sh.AlertID != "kordai:a1" || sh.Fields["/payload/alarm/channel"] != "gamma" || strings.Contains(string(js), "secret-field") || strings.Contains(string(js), `"box"`) {
		t.Fatalf("share: %s", js)
	}
	receipts := func() map[string]string {
		s, _ := sp.a.Sent(ctx, "a1")
		if len(s) != 1 {
			return nil
		}
		return s[0].Receipts
	}
	waitFor(t, "delivered receipt", func() bool { return receipts()[Delivered] != "" })
	if err := sp.b.MarkSeen(sh.ID, "officer-kg"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "seen receipt", func() bool { return receipts()[Seen] != "" })
	if err := sp.b.Acknowledge(sh.ID, "officer-kg"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "acknowledged receipt", func() bool { return receipts()[Acknowledged] != "" })

	// box-tamper is not in the policy at all: an officer cannot share it.
	if _, err := sp.a.Share(ctx, "a2", "akzhol", "officer-kz", "", "H1"); err != ErrNotSharable {
		t.Fatalf("sharing an unlisted rule: %v", err)
	}
	// Audit on both sides: sent share + 3 received receipts at kordai;
	// received share + 3 sent receipts at akzhol.
	for _, c := range []struct {
		e    *Engine
		want []string
	}{
		{sp.a, []string{"sent share", "received receipt", "received receipt", "received receipt"}},
		{sp.b, []string{"received share", "sent receipt", "sent receipt", "sent receipt"}},
	} {
		log, _ := c.e.Audit(ctx, 0, 100)
		var got []string
		for _, l := range log {
			got = append(got, l.Direction+" "+l.Kind)
			if l.Policy == "" || l.Actor == "" || l.At.IsZero() {
				t.Errorf("%s audit line lacks who/when/policy: %+v", c.e.site, l)
			}
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s audit: %v, want %v", c.e.site, got, c.want)
		}
	}
}

func TestOfficerShareWithNoteAndHandling(t *testing.T) {
	sp := startPair(t)
	ctx := context.Background()
	sp.srcA.add(contract.Alert{ID: "f1", Box: "b1", Device: "t1", Rule: "fever", Severity: "high", Summary: "Fever"}, "")
	if _, err := sp.a.Share(ctx, "f1", "akzhol", "officer-kz", "traveller heading to Bishkek", "H9"); err != ErrHandling {
		t.Fatalf("a handling code outside the policy: %v", err)
	}
	sh, err := sp.a.Share(ctx, "f1", "akzhol", "officer-kz", "traveller heading to Bishkek", "H2")
	if err != nil {
		t.Fatal(err)
	}
	var in []Incoming
	waitFor(t, "the share at akzhol", func() bool {
		in, _ = sp.b.Incoming(ctx, 10)
		return len(in) == 1
	})
	if in[0].Share.ID != sh.ID || in[0].Share.Note != "traveller heading to Bishkek" || in[0].Share.Handling != "H2" || in[0].Share.SharedBy != "officer-kz" || in[0].Share.Automatic {
		t.Fatalf("got %+v", in[0].Share)
	}
}

// A partition of the neighbour link: alerts raised while it is cut are
// shared when it heals, each once, and the receipts come back.
func TestSharesAfterNeighbourPartition(t *testing.T) {
	dir := t.TempDir()
	sa, sb := blotest.NewSite(t, dir, "kordai"), blotest.NewSite(t, dir, "akzhol")
	pa := writePolicy(t, dir, "a.yaml", "policy: kordai-akzhol/1\nneighbour: akzhol\nauto: [{rule: rpm-alarm}]\n")
	addr := blotest.FreeAddr(t)
	proxy := blotest.NewProxy(t, addr)
	srcA, srcB := newMemSource(), newMemSource()
	a, err := Start("kordai", &Config{Listen: addr, Cert: sa.CertFile, Key: sa.KeyFile,
		Neighbours: []Neighbour{{Peer: Peer{Site: "akzhol", CA: sb.CAFile}, Policy: pa}}}, t.TempDir(), filepath.Join(t.TempDir(), "a.db"), srcA, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Start("akzhol", &Config{Cert: sb.CertFile, Key: sb.KeyFile,
		Neighbours: []Neighbour{{Peer: Peer{Site: "kordai", CA: sa.CAFile, URLs: []string{"tls://" + proxy.Addr}}}}}, t.TempDir(), filepath.Join(t.TempDir(), "b.db"), srcB, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	srcA.attach(a)
	srcB.attach(b)
	a.Run()
	b.Run()
	ctx := context.Background()
	raised := 0
	raise := func(n int) {
		for range n {
			raised++
			i := raised
			id := "p" + strconv.Itoa(i)
			srcA.add(contract.Alert{ID: id, Box: "b1", Device: "rpm1", Rule: "rpm-alarm", Severity: "critical",
				Readings: []contract.ReadingRef{{Box: "b1", Device: "rpm1", Seq: uint64(i)}}}, rpmReading)
		}
	}
	raise(10)
	waitFor(t, "the first ten", func() bool { in, _ := b.Incoming(ctx, 500); return len(in) == 10 })
	proxy.Cut()
	raise(40)
	waitFor(t, "the partition's shares queued in OUT", func() bool { return a.Published.Load() >= 100 })
	proxy.Heal()
	var in []Incoming
	waitFor(t, "all fifty after the partition", func() bool { in, _ = b.Incoming(ctx, 500); return len(in) >= 50 })
	ids := map[string]bool{}
	for _, x := range in {
		ids[x.Share.ID] = true
	}
	if len(in) != 50 || len(ids) != 50 {
		t.Fatalf("%d incoming, %d distinct, want 50", len(in), len(ids))
	}
	waitFor(t, "fifty delivered receipts", func() bool {
		var n int
		a.st.db.QueryRow(`SELECT count(*) FROM blo_receipts WHERE status = 'delivered'`).Scan(&n)
		return n == 50
	})
}
