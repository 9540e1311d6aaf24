package hub

import (
	"math/bits"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// fairShare keeps one identity's flood from taking the ingest from the
// others. Each box may have its whole window of readings in the pipeline
// (parse, group commit, PUBACK) while that costs no one else anything: a
// box draining its backlog alone gets all the hub. But when a reading of a
// light identity waits longer than target from its PUBLISH being read to
// its PUBACK, the hub is congested for the others: for the next
// fairCongestion every other identity is held, its connection read only as
// this allows, so its readings neither fill the commit batches the light
// one waits behind nor take the CPU that parsing them would. The hold
// outlasts a booth's pause between readings, so a box that reads a
// document a minute still finds the flood held when its next one comes.
//
// Light is a matter of rate, not of a moment: a reading is light if its
// identity had fewer than share in flight as it was read and has not had
// its share in flight for fairHeavy (nor is in a held round's pause),
// neither when it is read nor while it waits. A booth's readings come
// one by one and are light; a box draining a backlog has its share in
// flight between its windows. And a slow light reading's congestion ends
// once its identity has had its share in flight: when every box starts
// to drain at once (a station-wide outage ending), their first readings
// wait before each has its share in flight. So under a uniform load no
// one is light once the drain has begun, and no one is held. Counting a
// box light whenever its in flight fell below share (the rule before)
// made each box, its round acknowledged, light for its next reading,
// which waited behind the others': a congestion that never ended, and
// all 200 boxes of hubbench's round held in rounds with pauses.
//
// A held identity goes in rounds: share readings (about one commit), then
// nothing until all are acknowledged and a pause of pause times the
// round's length has passed. Holding it to share in flight alone bounded
// its batches but not its rate: it still committed as fast as the disk
// allowed, 200-300 small transactions a second (each with a fixed cost
// in WAL pages, 50-65 MiB/s written) and 1,400-1,800 readings parsed,
// and a light reading's p99 was 3-10 times its figure alone (flood
// benchmark, docs/security.md).
type fairShare struct {
	share   int
	target  time.Duration
	maxWait time.Duration // a reading waits at most this for its share
	pause   float64       // a held round is followed by a pause this many times as long
	now     func() time.Time

	mu        sync.Mutex
	flows     map[string]*flow           // identity -> its readings in the pipeline (the configured identities: bounded)
	conns     map[*mqtt.Client]*fairConn // connections with readings read, not yet acknowledged
	lit       []*flow                    // the flows with light readings in flight: what congested scans
	lightSlow map[string]time.Time       // identity -> when a light reading of it last waited beyond target
}

type flow struct {
	identity string
	inflight int
	wake     chan struct{} // closed when one of its readings is acknowledged
	// A held identity goes in rounds: share readings, then none until all
	// are acknowledged and a pause of fairShare.pause rounds has passed.
	full       bool      // its round is full: no more until it is over
	roundStart time.Time // when the round's first reading was read
	resume     time.Time // a held identity's next round starts no sooner
	heavyAt    time.Time // when it last had its share in flight
	// light are its readings in flight that were light in rate
	// (fairShare.heavy) as they were read, oldest first; a reading is
	// light only while its identity has fewer than share in flight, so
	// there are at most share of them.
	light []lightMark
	litAt int // its index in fairShare.lit while light is not empty
}

type lightMark struct {
	conn *fairConn
	id   uint16
	at   time.Time
}

// fairConn is one connection's readings read and not yet acknowledged, a
// set of packet ids: a bit each, not a map of marks, because admit and
// acked run for every reading of every box under the one mutex. A
// connection's identity is fixed at CONNECT (authHook), so its readings
// all count to one flow.
type fairConn struct {
	fl      *flow
	n       int // ids in the set
	pending [1 << 16 / 64]uint64
}

func (c *fairConn) has(id uint16) bool { return c.pending[id/64]&(1<<(id%64)) != 0 }
func (c *fairConn) set(id uint16)      { c.pending[id/64] |= 1 << (id % 64); c.n++ }
func (c *fairConn) clear(id uint16)    { c.pending[id/64] &^= 1 << (id % 64); c.n-- }

// heavy says whether fl's identity is not light in rate: it has its share
// in flight, had it within fairHeavy, or is in a held round's pause.
// Called with f.mu held.
func (f *fairShare) heavy(fl *flow, now time.Time) bool {
	return fl != nil && (fl.inflight >= f.share || now.Sub(fl.heavyAt) < fairHeavy || now.Before(fl.resume))
}

const (
	fairTarget     = 10 * time.Millisecond
	fairCongestion = 2 * time.Minute // how long a light identity's slow reading holds the others
	fairMaxWait    = 5 * time.Second // default of maxWait: a stalled commit stalls no box for longer
	// fairPause is how much longer than its last round a held identity
	// waits before its next: its rounds take at most a quarter of the
	// time, so a light reading mostly finds the committer idle, and a
	// held flood writes too little to slow the disk's syncs for the
	// others. The bound is of time, not readings: on a slow disk the
	// rounds, and so the pauses, are longer.
	fairPause = 3
	// fairHeavy is how long an identity that had its share in flight is
	// not light: longer than a draining box's gap between two windows
	// (one commit, tens of milliseconds), far shorter than a booth's
	// pause between documents.
	fairHeavy = time.Second
	// fairLinger is how long a commit of held readings only waits for more
	// (pipeline.go Linger): it paces a held flood to about share readings
	// per fairLinger, in fewer, larger transactions.
	fairLinger = 2 * time.Millisecond
)

func newFairShare(share int) *fairShare {
	return &fairShare{share: share, target: fairTarget, maxWait: fairMaxWait, now: time.Now, pause: fairPause,
		flows: map[string]*flow{}, conns: map[*mqtt.Client]*fairConn{}, lightSlow: map[string]time.Time{}}
}

// admit is called as a reading at QoS 1 or 2 is read from cl; it returns
// once the identity may have one more in flight (true if it had to wait).
func (f *fairShare) admit(cl *mqtt.Client, identity string, id uint16) (waited bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	deadline := now.Add(f.maxWait)
	c := f.conns[cl]
	if c == nil {
		fl := f.flows[identity]
		if fl == nil {
			fl = &flow{identity: identity}
			f.flows[identity] = fl
		}
		c = &fairConn{fl: fl}
		f.conns[cl] = c
	}
	fl := c.fl
	for f.mustWait(fl, now) && f.congested(identity, now) && now.Before(deadline) && !cl.Closed() {
		if fl.wake == nil {
			fl.wake = make(chan struct{})
		}
		w := fl.wake
		nap := 50 * time.Millisecond // congestion may have passed
		if d := fl.resume.Sub(now); fl.inflight == 0 && d > 0 && d < nap {
			nap = d // its pause ends
		}
		f.mu.Unlock()
		waited = true
		select {
		case <-w:
		case <-time.After(nap):
		}
		f.mu.Lock()
		now = f.now()
	}
	if fl.inflight == 0 {
		fl.full, fl.roundStart = false, now
	}
	if c.has(id) { // a redelivery of an id still in flight
		f.release(c, id, now)
	}
	c.set(id)
	if fl.inflight < f.share && !f.heavy(fl, now) {
		if len(fl.light) == 0 {
			fl.litAt = len(f.lit)
			f.lit = append(f.lit, fl)
		}
		fl.light = append(fl.light, lightMark{conn: c, id: id, at: now})
	}
	fl.inflight++
	if fl.inflight >= f.share {
		fl.full, fl.heavyAt = true, now
	}
	return waited
}

// mustWait says whether a held flow's next reading must wait: its round
// is full and not yet over, or its pause has not passed. Called with f.mu
// held.
func (f *fairShare) mustWait(fl *flow, now time.Time) bool {
	if fl.inflight >= f.share {
		return true
	}
	if f.pause == 0 {
		return false
	}
	return (fl.full && fl.inflight > 0) || (fl.inflight == 0 && now.Before(fl.resume))
}

// congested says whether identity must keep to its share now: a light
// reading of another identity waits, or waited lately, too long, and
// that identity is light still. Called with f.mu held.
func (f *fairShare) congested(identity string, now time.Time) bool {
	for id, at := range f.lightSlow {
		switch {
		// One that has had its share in flight since drains a backlog
		// like the others: its wait was theirs (the first readings of
		// boxes all starting to drain at once), not one a flood caused.
		case now.Sub(at) > fairCongestion, f.heavy(f.flows[id], now):
			delete(f.lightSlow, id)
		case id != identity:
			return true
		}
	}
	for _, fl := range f.lit {
		if fl.identity == identity || f.heavy(fl, now) {
			continue
		}
		for _, m := range fl.light {
			if now.Sub(m.at) > f.target {
				return true
			}
		}
	}
	return false
}

// held says whether identity is held to its share now: it has its share
// in flight while the hub is congested for another.
func (f *fairShare) held(identity string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl := f.flows[identity]
	return fl != nil && fl.inflight >= f.share && f.congested(identity, f.now())
}

// acked is called as the PUBACK (PUBREC at QoS 2) of packet id goes to cl.
func (f *fairShare) acked(cl *mqtt.Client, id uint16) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.conns[cl]
	if c == nil || !c.has(id) {
		return
	}
	now := f.now()
	if m, light := c.fl.lightMark(c, id); light && now.Sub(m.at) > f.target && !f.heavy(c.fl, now) {
		f.lightSlow[c.fl.identity] = now
	}
	f.release(c, id, now)
}

// lightMark finds the light reading id of c among fl's, if it is one.
// Readings are acknowledged in the order they were read, so it is most
// often the first.
func (fl *flow) lightMark(c *fairConn, id uint16) (lightMark, bool) {
	for _, m := range fl.light {
		if m.conn == c && m.id == id {
			return m, true
		}
	}
	return lightMark{}, false
}

// release takes a reading off its identity's count. Called with f.mu held.
func (f *fairShare) release(c *fairConn, id uint16, now time.Time) {
	c.clear(id)
	fl := c.fl
	for i, m := range fl.light {
		if m.conn == c && m.id == id {
			if i == 0 && len(fl.light) > 4*f.share {
				fl.light = fl.light[1:] // a share so large (no fair share) that moving them costs
			} else {
				copy(fl.light[i:], fl.light[i+1:]) // and keep the array: a booth has a light reading at a time
				fl.light[len(fl.light)-1] = lightMark{}
				fl.light = fl.light[:len(fl.light)-1]
			}
			if len(fl.light) == 0 {
				f.unlit(fl) // congested scans f.lit at every admit of a held identity
			}
			break
		}
	}
	if fl.inflight >= f.share {
		fl.heavyAt = now
	}
	fl.inflight--
	if fl.inflight == 0 && fl.full {
		fl.resume = now.Add(time.Duration(f.pause * float64(now.Sub(fl.roundStart))))
	}
	if fl.wake != nil {
		close(fl.wake)
		fl.wake = nil
	}
}

// unlit takes fl, whose light readings are all acknowledged, off f.lit.
func (f *fairShare) unlit(fl *flow) {
	last := f.lit[len(f.lit)-1]
	f.lit[fl.litAt], last.litAt = last, fl.litAt
	f.lit[len(f.lit)-1] = nil
	f.lit = f.lit[:len(f.lit)-1]
}

// gone forgets what a closed connection had in flight.
func (f *fairShare) gone(cl *mqtt.Client) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.conns[cl]
	if c == nil {
		return
	}
	now := f.now()
	for w := 0; c.n > 0 && w < len(c.pending); w++ {
		for c.pending[w] != 0 {
			f.release(c, uint16(w*64+bits.TrailingZeros64(c.pending[w])), now)
		}
	}
	delete(f.conns, cl)
}
