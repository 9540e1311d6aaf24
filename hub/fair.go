package hub

import (
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
	flows     map[string]*flow                 // identity -> its readings in the pipeline (the configured identities: bounded)
	marks     map[*mqtt.Client]map[uint16]mark // readings read, not yet acknowledged
	light     map[*mqtt.Client]map[uint16]mark // the light ones among them
	lightSlow map[string]time.Time             // identity -> when a light reading of it last waited beyond target
}

type flow struct {
	inflight int
	wake     chan struct{} // closed when one of its readings is acknowledged
	// A held identity goes in rounds: share readings, then none until all
	// are acknowledged and a pause of fairShare.pause rounds has passed.
	full       bool      // its round is full: no more until it is over
	roundStart time.Time // when the round's first reading was read
	resume     time.Time // a held identity's next round starts no sooner
	heavyAt    time.Time // when it last had its share in flight
}

type mark struct {
	at       time.Time
	identity string
	light    bool // its identity was light in rate (fairShare.heavy) as it was read
}

// heavy says whether identity is not light in rate: it has its share in
// flight, had it within fairHeavy, or is in a held round's pause. Called
// with f.mu held.
func (f *fairShare) heavy(identity string) bool {
	fl := f.flows[identity]
	if fl == nil {
		return false
	}
	now := f.now()
	return fl.inflight >= f.share || now.Sub(fl.heavyAt) < fairHeavy || now.Before(fl.resume)
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
		flows: map[string]*flow{}, marks: map[*mqtt.Client]map[uint16]mark{}, light: map[*mqtt.Client]map[uint16]mark{},
		lightSlow: map[string]time.Time{}}
}

// admit is called as a reading at QoS 1 or 2 is read from cl; it returns
// once the identity may have one more in flight (true if it had to wait).
func (f *fairShare) admit(cl *mqtt.Client, identity string, id uint16) (waited bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	deadline := f.now().Add(f.maxWait)
	fl := f.flows[identity]
	if fl == nil {
		fl = &flow{}
		f.flows[identity] = fl
	}
	for f.mustWait(fl) && f.congested(identity) && f.now().Before(deadline) && !cl.Closed() {
		if fl.wake == nil {
			fl.wake = make(chan struct{})
		}
		w := fl.wake
		nap := 50 * time.Millisecond // congestion may have passed
		if d := fl.resume.Sub(f.now()); fl.inflight == 0 && d > 0 && d < nap {
			nap = d // its pause ends
		}
		f.mu.Unlock()
		waited = true
		select {
		case <-w:
		case <-time.After(nap):
		}
		f.mu.Lock()
	}
	if fl.inflight == 0 {
		fl.full, fl.roundStart = false, f.now()
	}
	m := f.marks[cl]
	if m == nil {
		m = map[uint16]mark{}
		f.marks[cl] = m
	}
	if old, dup := m[id]; dup { // a redelivery of an id still in flight
		f.release(cl, id, old)
	}
	mk := mark{at: f.now(), identity: identity, light: fl.inflight < f.share && !f.heavy(identity)}
	m[id] = mk
	if mk.light {
		if f.light[cl] == nil {
			f.light[cl] = map[uint16]mark{}
		}
		f.light[cl][id] = mk
	}
	fl.inflight++
	if fl.inflight >= f.share {
		fl.full, fl.heavyAt = true, f.now()
	}
	return waited
}

// mustWait says whether a held flow's next reading must wait: its round
// is full and not yet over, or its pause has not passed. Called with f.mu
// held.
func (f *fairShare) mustWait(fl *flow) bool {
	if fl.inflight >= f.share {
		return true
	}
	if f.pause == 0 {
		return false
	}
	return (fl.full && fl.inflight > 0) || (fl.inflight == 0 && f.now().Before(fl.resume))
}

// congested says whether identity must keep to its share now: a light
// reading of another identity waits, or waited lately, too long, and
// that identity is light still. Called with f.mu held.
func (f *fairShare) congested(identity string) bool {
	now := f.now()
	for id, at := range f.lightSlow {
		switch {
		// One that has had its share in flight since drains a backlog
		// like the others: its wait was theirs (the first readings of
		// boxes all starting to drain at once), not one a flood caused.
		case now.Sub(at) > fairCongestion, f.heavy(id):
			delete(f.lightSlow, id)
		case id != identity:
			return true
		}
	}
	for _, ms := range f.light {
		for _, m := range ms {
			if m.identity != identity && now.Sub(m.at) > f.target && !f.heavy(m.identity) {
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
	return fl != nil && fl.inflight >= f.share && f.congested(identity)
}

// acked is called as the PUBACK (PUBREC at QoS 2) of packet id goes to cl.
func (f *fairShare) acked(cl *mqtt.Client, id uint16) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.marks[cl][id]
	if !ok {
		return
	}
	if m.light && f.now().Sub(m.at) > f.target && !f.heavy(m.identity) {
		f.lightSlow[m.identity] = f.now()
	}
	f.release(cl, id, m)
}

// release takes a reading off its identity's count. Called with f.mu held.
func (f *fairShare) release(cl *mqtt.Client, id uint16, m mark) {
	delete(f.marks[cl], id)
	if m.light {
		delete(f.light[cl], id)
		if len(f.light[cl]) == 0 {
			delete(f.light, cl) // congested scans f.light at every admit of a held identity
		}
	}
	fl := f.flows[m.identity]
	if fl == nil {
		return
	}
	if fl.inflight >= f.share {
		fl.heavyAt = f.now()
	}
	fl.inflight--
	if fl.inflight == 0 && fl.full {
		now := f.now()
		fl.resume = now.Add(time.Duration(f.pause * float64(now.Sub(fl.roundStart))))
	}
	if fl.wake != nil {
		close(fl.wake)
		fl.wake = nil
	}
}

// gone forgets what a closed connection had in flight.
func (f *fairShare) gone(cl *mqtt.Client) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, m := range f.marks[cl] {
		f.release(cl, id, m)
	}
	delete(f.marks, cl)
	delete(f.light, cl)
}
