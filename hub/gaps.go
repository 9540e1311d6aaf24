package hub

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kordon/kordon/internal/contract"
)

// gapTracker watches each device's sequence numbers (docs/delivery.md).
// A box sends a device's readings in order, so a reading that arrives past
// a hole means the hub lacks something: it asks the box to resend from the
// first missing number, and records as lost whatever the box answers it no
// longer holds (dropped under its full policy, or deleted).
type gapTracker struct {
	hub *Hub

	mu   sync.Mutex
	devs map[devKey]*devSeq

	cmds     chan boxCommand
	quit     chan struct{}
	stopOnce sync.Once

	gaps, requests, lost atomic.Int64
}

type devKey struct{ box, device string }

type boxCommand struct {
	box string
	cmd contract.Command
}

type devSeq struct {
	contig uint64          // every seq <= contig is stored or recorded lost
	ahead  map[uint64]bool // stored seqs beyond a hole
	lost   [][2]uint64     // ranges the box reported gone, above contig
	asked  time.Time       // last resend request
	askedN uint64          // from what seq
}

// askEvery spaces resend requests for one device: a resend in flight
// shows the same hole until it arrives.
const askEvery = 3 * time.Second

const maxAhead = 1 << 16

func newGapTracker(h *Hub) *gapTracker {
	return &gapTracker{hub: h, devs: map[devKey]*devSeq{}, cmds: make(chan boxCommand, 256), quit: make(chan struct{})}
}

// seen is called for every reading stored or found a duplicate, inside the
// publish path.
func (g *gapTracker) seen(box, device string, seq uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := devKey{box, device}
	d := g.devs[k]
	if d == nil {
		d = &devSeq{ahead: map[uint64]bool{}}
		d.contig = g.hub.store.contiguous(box, device)
		g.devs[k] = d
	}
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
	g.ask(k, d)
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
		g.hub.log.Warn("sequence gap; asking the box to resend", "box", k.box, "device", k.device, "from", from)
	}
	d.asked, d.askedN = time.Now(), from
	g.request(k.box, k.device, from)
}

// advance moves contig over stored and lost numbers.
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

func (g *gapTracker) request(box, device string, from uint64) {
	cmd := contract.Command{
		Schema: contract.CommandV1, ID: fmt.Sprintf("resend-%s-%d-%d", device, from, time.Now().UnixNano()),
		Name: "resend", Args: map[string]string{"device": device, "from": strconv.FormatUint(from, 10)},
		Expires: time.Now().Add(time.Minute).UTC(),
	}
	select {
	case g.cmds <- boxCommand{box, cmd}:
		g.requests.Add(1)
	default: // the queue is full: the next reading past the hole asks again
	}
}

// run publishes resend commands outside the publish path that found them,
// and asks again for holes still open (the box may have been offline).
func (g *gapTracker) run() {
	t := time.NewTicker(askEvery)
	defer t.Stop()
	for {
		select {
		case <-g.quit:
			return
		case <-t.C:
			g.mu.Lock()
			for k, d := range g.devs {
				g.ask(k, d)
			}
			g.mu.Unlock()
		case bc := <-g.cmds:
			js, _ := json.Marshal(bc.cmd)
			if err := g.hub.broker.Publish(contract.Commands(g.hub.cfg.Crossing, bc.box), js, false, 1); err != nil {
				g.hub.log.Warn("resend command", "box", bc.box, "err", err)
			}
		}
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
	d := g.devs[devKey{box, device}]
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
		if err := g.hub.store.addLost(box, device, first, last, "gone at box"); err != nil {
			g.hub.log.Error("record lost readings", "box", box, "device", device, "err", err)
			continue
		}
		g.lost.Add(int64(last - first + 1))
		g.hub.log.Warn("readings lost at the box", "box", box, "device", device, "first", first, "last", last)
		d.lost = append(d.lost, [2]uint64{first, last})
	}
	d.advance()
	g.hub.store.saveContig(box, device, d.contig)
}

// contiguousOf is a device's contiguous mark (tests, box health).
func (g *gapTracker) contiguousOf(box, incarnation, device string) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if d := g.devs[devKey{box, device}]; d != nil {
		return d.contig
	}
	return 0
}
