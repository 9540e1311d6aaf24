package hub

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kordon/kordon/hub/events"
	"github.com/kordon/kordon/internal/contract"
)

// gapTracker watches each device's sequence numbers, per box life
// (incarnation), after they are committed (docs/delivery.md). A box sends
// a device's readings in order, so a reading that arrives past a hole
// means the hub lacks something: it asks the box to resend from the first
// missing number, and records as lost whatever the box answers it no
// longer holds. A number the hub refused (and recorded) is accounted for
// like a stored one. When a box begins a new incarnation, the holes of the
// one before can never be filled: they are recorded as lost, and the box is
// asked for the old life's tail (what it sent nothing of), so what it
// answers it no longer holds is recorded too. A restarted hub finds the
// lives before from the database (endEarlierLives).
type gapTracker struct {
	store   seqStore
	publish func(box string, cmd contract.Command) error
	log     *slog.Logger

	mu     sync.Mutex
	devs   map[devKey]*devSeq
	latest map[[2]string]string // (box, device) -> the incarnation last seen
	dirty  map[devKey]bool      // contig moved since it was saved
	ended  map[devKey]uint64    // lives a newer one replaced -> the number up to which each is accounted for

	cmds     chan boxCommand
	quit     chan struct{}
	stopOnce sync.Once

	gaps, requests, lost atomic.Int64
}

// seqStore is what the tracker keeps in the database.
type seqStore interface {
	contiguous(k devKey) uint64
	addLost(k devKey, first, last uint64, reason string) error
	saveContig(k devKey, contig uint64) error
	saveContigs(marks map[devKey]uint64) error // in one transaction
	// livesBefore lists the box's incarnations recorded before inc.
	livesBefore(box, inc string) ([]string, error)
	// accountedAbove lists the numbers above from a life holds: stored,
	// refused, or within a recorded loss.
	accountedAbove(k devKey, from uint64) ([]uint64, error)
}

type devKey struct{ box, incarnation, device string }

type boxCommand struct {
	box string
	cmd contract.Command
}

type devSeq struct {
	accepted bool            // an accepted reading of this life was seen
	contig   uint64          // every seq <= contig is stored, refused or recorded lost
	ahead    map[uint64]bool // seqs accounted for beyond a hole
	lost     [][2]uint64     // ranges the box reported gone, above contig
	asked    time.Time       // last resend request
	askedN   uint64          // from what seq
}

// askEvery spaces resend requests for one device: a resend in flight
// shows the same hole until it arrives.
const askEvery = 3 * time.Second

const maxAhead = 1 << 16

func newGapTracker(st seqStore, publish func(string, contract.Command) error, log *slog.Logger) *gapTracker {
	return &gapTracker{store: st, publish: publish, log: log, devs: map[devKey]*devSeq{}, latest: map[[2]string]string{},
		dirty: map[devKey]bool{}, ended: map[devKey]uint64{}, cmds: make(chan boxCommand, 256), quit: make(chan struct{})}
}

// Committed accounts for every number a batch stored, found already
// stored, or refused.
func (g *gapTracker) Committed(b *events.Batch) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range b.Readings {
		g.seen(r.Ref, true)
	}
	for _, r := range b.Duplicates {
		g.seen(r, true) // a resend fills holes with them
	}
	for _, r := range b.Refused {
		g.seen(r.Ref, false)
	}
}

// seen is called with g.mu held. Only an accepted reading can show that
// a box began a new life; a refused one only accounts for its number.
func (g *gapTracker) seen(ref contract.ReadingRef, accepted bool) {
	k := devKey{ref.Box, ref.Incarnation, ref.Device}
	if _, ended := g.ended[k]; ended {
		return // a late redelivery from a life that ended: its holes are recorded lost
	}
	d := g.devs[k]
	if d == nil {
		d = &devSeq{ahead: map[uint64]bool{}}
		d.contig = g.store.contiguous(k)
		g.devs[k] = d
	}
	// The first accepted reading of a life the tracker has not seen ends
	// the one before (a late redelivery from an older life does not).
	if bd := [2]string{ref.Box, ref.Device}; accepted && !d.accepted {
		d.accepted = true
		prev, ok := g.latest[bd]
		switch {
		case ok && prev != ref.Incarnation:
			g.endIncarnation(devKey{ref.Box, prev, ref.Device})
		case !ok:
			// The first of this device since the hub started: the
			// lives before, if this is the newest, ended while it was down.
			g.endEarlierLives(ref.Box, ref.Incarnation, ref.Device)
		}
		g.latest[bd] = ref.Incarnation
	}
	seq := ref.Seq
	switch {
	case seq <= d.contig:
		return
	case seq == d.contig+1:
		d.contig = seq
		d.advance()
	default:
		if len(d.ahead) < maxAhead {
			d.ahead[seq] = true
		}
		d.advance()
	}
	g.dirty[k] = true
	g.ask(k, d)
}

// endIncarnation records the holes of a box life that ended as lost and
// stops asking for them. Called with g.mu held.
func (g *gapTracker) endIncarnation(k devKey) {
	d := g.devs[k]
	if d == nil {
		return
	}
	delete(g.devs, k)
	// What the database holds beyond the mark counts too: a restarted hub
	// saw only part of this life.
	seqs, err := g.store.accountedAbove(k, d.contig)
	if err != nil {
		g.log.Warn("box life", "box", k.box, "incarnation", k.incarnation, "err", err)
	}
	for s := range d.ahead {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	g.closeLife(k, d.contig, slices.Compact(seqs))
}

// closeLife ends life k, every number up to contig accounted for and the
// numbers in seqs (sorted) beyond it: the holes between are recorded lost,
// the mark saved past them (so a restarted hub does not record them
// again), and the box asked for the tail. Called with g.mu held.
func (g *gapTracker) closeLife(k devKey, contig uint64, seqs []uint64) {
	from := contig + 1
	for _, s := range seqs {
		if s > from {
			if !g.recordLost(k, from, s-1, "box began a new incarnation") {
				g.ended[k] = from - 1
				return // not recorded: the next start tries again
			}
		}
		from = max(from, s+1)
	}
	top := from - 1
	g.ended[k] = top
	if top > contig {
		if err := g.store.saveContig(k, top); err != nil {
			g.log.Warn("save sequence mark", "box", k.box, "device", k.device, "err", err)
		}
	}
	if top > 0 {
		g.request(k, top+1) // the box answers what of the tail it no longer holds
	}
}

// endEarlierLives ends, from the database, the lives of box that came
// before inc, for device: what a hub that restarted in between no longer
// knows. inc must be the newest life recorded (a late reading of an older
// one ends nothing). Called with g.mu held.
func (g *gapTracker) endEarlierLives(box, inc, device string) {
	before, err := g.store.livesBefore(box, inc)
	if err != nil {
		g.log.Warn("box lives", "box", box, "err", err)
		return
	}
	if before == nil { // inc is not the newest, or the box had no life before it
		return
	}
	for _, old := range before {
		k := devKey{box, old, device}
		if _, done := g.ended[k]; done {
			continue
		}
		contig := g.store.contiguous(k)
		seqs, err := g.store.accountedAbove(k, contig)
		if err != nil {
			g.log.Warn("box life", "box", box, "incarnation", old, "err", err)
			continue
		}
		if contig == 0 && len(seqs) == 0 {
			continue // this device sent nothing in that life
		}
		g.closeLife(k, contig, seqs)
	}
}

func (g *gapTracker) recordLost(k devKey, first, last uint64, reason string) bool {
	if err := g.store.addLost(k, first, last, reason); err != nil {
		g.log.Error("record lost readings", "box", k.box, "device", k.device, "err", err)
		return false
	}
	g.lost.Add(int64(last - first + 1))
	g.log.Warn("readings lost", "box", k.box, "incarnation", k.incarnation, "device", k.device, "first", first, "last", last, "reason", reason)
	return true
}

// ask requests a resend for a device with a hole, unless one for the same
// number went out recently. Called with g.mu held.
func (g *gapTracker) ask(k devKey, d *devSeq) {
	if len(d.ahead) == 0 {
		return
	}
	from := d.contig + 1
	if from == d.askedN && time.Since(d.asked) < askEvery {
		return
	}
	if from != d.askedN {
		g.gaps.Add(1)
		g.log.Warn("sequence gap; asking the box to resend", "box", k.box, "incarnation", k.incarnation, "device", k.device, "from", from)
	}
	d.asked, d.askedN = time.Now(), from
	g.request(k, from)
}

// advance moves contig over accounted and lost numbers.
func (d *devSeq) advance() {
	for {
		if d.ahead[d.contig+1] {
			delete(d.ahead, d.contig+1)
			d.contig++
			continue
		}
		if i := slices.IndexFunc(d.lost, func(r [2]uint64) bool { return r[0] <= d.contig+1 && d.contig+1 <= r[1] }); i >= 0 {
			d.contig = d.lost[i][1]
			d.lost = slices.Delete(d.lost, i, i+1)
			continue
		}
		for s := range d.ahead {
			if s <= d.contig {
				delete(d.ahead, s)
			}
		}
		return
	}
}

func (g *gapTracker) request(k devKey, from uint64) {
	args := map[string]string{"device": k.device, "from": strconv.FormatUint(from, 10)}
	if k.incarnation != "" {
		args["incarnation"] = k.incarnation // a box in another life answers that it no longer holds it
	}
	cmd := contract.Command{
		Schema: contract.CommandV1, ID: fmt.Sprintf("resend-%s-%d-%d", k.device, from, time.Now().UnixNano()),
		Name: "resend", Args: args, Expires: time.Now().Add(time.Minute).UTC(),
	}
	select {
	case g.cmds <- boxCommand{k.box, cmd}:
		g.requests.Add(1)
	default: // the queue is full: the next reading past the hole asks again
	}
}

// run publishes resend commands outside the commit path that found them,
// asks again for holes still open (the box may have been offline), and
// saves the contiguous marks that moved.
func (g *gapTracker) run() {
	t := time.NewTicker(askEvery)
	defer t.Stop()
	for {
		select {
		case <-g.quit:
			g.save()
			return
		case <-t.C:
			g.mu.Lock()
			for k, d := range g.devs {
				g.ask(k, d)
			}
			g.mu.Unlock()
			g.save()
		case bc := <-g.cmds:
			if err := g.publish(bc.box, bc.cmd); err != nil {
				g.log.Warn("resend command", "box", bc.box, "err", err)
			}
		}
	}
}

// save writes the marks that moved, so a restarted hub starts from them
// rather than from the whole of each device's history.
func (g *gapTracker) save() {
	g.mu.Lock()
	marks := make(map[devKey]uint64, len(g.dirty))
	for k := range g.dirty {
		if d := g.devs[k]; d != nil {
			marks[k] = d.contig
		}
	}
	clear(g.dirty)
	g.mu.Unlock()
	if err := g.store.saveContigs(marks); err != nil {
		g.log.Warn("save sequence marks", "devices", len(marks), "err", err)
	}
}

func (g *gapTracker) stop() { g.stopOnce.Do(func() { close(g.quit) }) }

// reply takes a box's answer to a resend: ranges it no longer holds are
// recorded as lost (in the store, and so no longer asked for).
func (g *gapTracker) reply(box string, body []byte) {
	var r contract.Reply
	if json.Unmarshal(body, &r) != nil || r.Name != "resend" || !r.OK || r.Result["missing"] == "" {
		return
	}
	device := r.Result["device"]
	g.mu.Lock()
	defer g.mu.Unlock()
	inc, named := r.Result["incarnation"]
	if !named {
		inc = g.latest[[2]string{box, device}] // a box that does not say answers for its current life
	}
	k := devKey{box, inc, device}
	d := g.devs[k]
	if top, ended := g.ended[k]; ended {
		g.endedReply(k, top, r.Result["missing"])
		return
	}
	if d == nil {
		return
	}
	for _, part := range strings.Split(r.Result["missing"], ",") {
		a, b, ok := strings.Cut(part, "-")
		first, err1 := strconv.ParseUint(a, 10, 64)
		last, err2 := strconv.ParseUint(b, 10, 64)
		if !ok || err1 != nil || err2 != nil || last < first || last <= d.contig {
			continue
		}
		first = max(first, d.contig+1)
		if g.recordLost(k, first, last, "gone at box") {
			d.lost = append(d.lost, [2]uint64{first, last})
		}
	}
	d.advance()
	if err := g.store.saveContig(k, d.contig); err != nil {
		g.log.Warn("save sequence mark", "box", box, "device", device, "err", err)
	}
}

// endedReply records what a life that ended no longer holds of its tail,
// above top, the number up to which it is accounted for. Called with g.mu
// held.
func (g *gapTracker) endedReply(k devKey, top uint64, missing string) {
	for _, part := range strings.Split(missing, ",") {
		a, b, ok := strings.Cut(part, "-")
		first, err1 := strconv.ParseUint(a, 10, 64)
		last, err2 := strconv.ParseUint(b, 10, 64)
		if !ok || err1 != nil || err2 != nil || last < first || last <= top {
			continue
		}
		if g.recordLost(k, max(first, top+1), last, "gone at box") {
			top = last
		}
	}
	g.ended[k] = top
	if err := g.store.saveContig(k, top); err != nil {
		g.log.Warn("save sequence mark", "box", k.box, "device", k.device, "err", err)
	}
}

// livesBefore: the incarnations of box recorded before inc, oldest first,
// and the life of its v1 readings (no incarnation) when it has any; nil
// when inc is not the newest.
func (s *store) livesBefore(box, inc string) ([]string, error) {
	rows, err := s.seqStmts.query(s.rd, `SELECT incarnation FROM incarnations WHERE box=? ORDER BY first_seen, rowid`, box)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var lives []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return nil, err
		}
		lives = append(lives, l)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(lives) == 0 || lives[len(lives)-1] != inc {
		return nil, nil
	}
	before := lives[:len(lives)-1]
	if inc != "" {
		before = append([]string{""}, before...)
	}
	return before, nil
}

// accountedAbove: the numbers above from that k's life stored or refused,
// and those within its recorded losses, sorted.
func (s *store) accountedAbove(k devKey, from uint64) ([]uint64, error) {
	rows, err := s.seqStmts.query(s.rd, `SELECT seq FROM readings WHERE box=?1 AND incarnation=?2 AND device=?3 AND seq > ?4
		UNION SELECT seq FROM refused WHERE box=?1 AND incarnation=?2 AND device=?3 AND seq > ?4 ORDER BY seq`,
		k.box, k.incarnation, k.device, from)
	if err != nil {
		return nil, err
	}
	var seqs []uint64
	for rows.Next() {
		var seq uint64
		if err := rows.Scan(&seq); err != nil {
			rows.Close()
			return nil, err
		}
		seqs = append(seqs, seq)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	lost, err := s.seqStmts.query(s.rd, `SELECT first, last FROM lost WHERE box=? AND incarnation=? AND device=? AND last > ?`, k.box, k.incarnation, k.device, from)
	if err != nil {
		return nil, err
	}
	defer lost.Close()
	for lost.Next() {
		var first, last uint64
		if err := lost.Scan(&first, &last); err != nil {
			return nil, err
		}
		for n := max(first, from+1); n <= last && len(seqs) < maxAhead; n++ {
			seqs = append(seqs, n)
		}
	}
	slices.Sort(seqs)
	return slices.Compact(seqs), lost.Err()
}

// contiguousOf is a device's contiguous mark (tests, box health).
func (g *gapTracker) contiguousOf(box, incarnation, device string) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if d := g.devs[devKey{box, incarnation, device}]; d != nil {
		return d.contig
	}
	return 0
}
