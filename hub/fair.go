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
// light identity (fewer than share readings in flight) waits longer than
// target from its PUBLISH being read to its PUBACK, the hub is congested
// for the others: for the next fairCongestion every other identity is held
// to share readings in flight, its connection read only as its PUBACKs go
// out, so its readings neither fill the commit batches the light one waits
// behind nor take the CPU that parsing them would. The hold outlasts a
// booth's pause between readings, so a box that reads a document a minute
// still finds the flood held when its next one comes.
type fairShare struct {
	share   int
	target  time.Duration
	maxWait time.Duration // a reading waits at most this for its share
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
}

type mark struct {
	at       time.Time
	identity string
	light    bool // its identity had fewer than share in flight
}

const (
	fairTarget     = 10 * time.Millisecond
	fairCongestion = 2 * time.Minute // how long a light identity's slow reading holds the others
	fairMaxWait    = 5 * time.Second // default of maxWait: a stalled commit stalls no box for longer
	// fairLinger is how long a commit of held readings only waits for more
	// (pipeline.go Linger): it paces a held flood to about share readings
	// per fairLinger, in fewer, larger transactions.
	fairLinger = 2 * time.Millisecond
)

func newFairShare(share int) *fairShare {
	return &fairShare{share: share, target: fairTarget, maxWait: fairMaxWait, now: time.Now,
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
	for fl.inflight >= f.share && f.congested(identity) && f.now().Before(deadline) && !cl.Closed() {
		if fl.wake == nil {
			fl.wake = make(chan struct{})
		}
		w := fl.wake
		f.mu.Unlock()
		waited = true
		select {
		case <-w:
		case <-time.After(50 * time.Millisecond): // congestion may have passed
		}
		f.mu.Lock()
	}
	m := f.marks[cl]
	if m == nil {
		m = map[uint16]mark{}
		f.marks[cl] = m
	}
	if old, dup := m[id]; dup { // a redelivery of an id still in flight
		f.release(cl, id, old)
	}
	mk := mark{at: f.now(), identity: identity, light: fl.inflight < f.share}
	m[id] = mk
	if mk.light {
		if f.light[cl] == nil {
			f.light[cl] = map[uint16]mark{}
		}
		f.light[cl][id] = mk
	}
	fl.inflight++
	return waited
}

// congested says whether identity must keep to its share now: a light
// reading of another identity waits, or waited lately, too long. Called
// with f.mu held.
func (f *fairShare) congested(identity string) bool {
	now := f.now()
	for id, at := range f.lightSlow {
		switch {
		case now.Sub(at) > fairCongestion:
			delete(f.lightSlow, id)
		case id != identity:
			return true
		}
	}
	for _, ms := range f.light {
		for _, m := range ms {
			if m.identity != identity && now.Sub(m.at) > f.target {
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
	if m.light && f.now().Sub(m.at) > f.target {
		f.lightSlow[m.identity] = f.now()
	}
	f.release(cl, id, m)
}

// release takes a reading off its identity's count. Called with f.mu held.
func (f *fairShare) release(cl *mqtt.Client, id uint16, m mark) {
	delete(f.marks[cl], id)
	delete(f.light[cl], id)
	fl := f.flows[m.identity]
	if fl == nil {
		return
	}
	fl.inflight--
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
