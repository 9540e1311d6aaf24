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
// light box (fewer than share readings in flight) takes longer than target
// from its PUBLISH being read to its PUBACK, the hub is congested, and for
// the next second every heavy identity is held to share readings in flight
// while any other identity is active: its connection is read only as its
// PUBACKs go out, so its readings neither fill the commit batches nor
// take the CPU that parsing them would.
type fairShare struct {
	share  int
	target time.Duration
	now    func() time.Time

	mu        sync.Mutex
	flows     map[string]*flow                      // identity -> its readings in the pipeline
	marks     map[*mqtt.Client]map[uint16]mark      // readings read, not yet acknowledged
	lightSlow time.Time                             // last time a light identity waited beyond target
	light     map[*mqtt.Client]map[uint16]time.Time // light readings in flight, by when read
}

type flow struct {
	inflight int
	last     time.Time     // last reading read
	wake     chan struct{} // closed when one of its readings is acknowledged
}

type mark struct {
	at       time.Time
	identity string
	light    bool // its identity had fewer than share in flight
}

const (
	fairTarget     = 10 * time.Millisecond
	fairCongestion = time.Second     // how long congestion holds heavy identities
	fairActive     = time.Second     // an identity that read a reading this recently is active
	fairMaxWait    = 5 * time.Second // a reading waits at most this for its share
)

func newFairShare(share int) *fairShare {
	return &fairShare{share: share, target: fairTarget, now: time.Now,
		flows: map[string]*flow{}, marks: map[*mqtt.Client]map[uint16]mark{}, light: map[*mqtt.Client]map[uint16]time.Time{}}
}

// admit is called as a reading at QoS 1 or 2 is read from cl; it returns
// once the identity may have one more in flight (true if it had to wait).
func (f *fairShare) admit(cl *mqtt.Client, identity string, id uint16) (waited bool) {
	deadline := f.now().Add(fairMaxWait)
	f.mu.Lock()
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
	now := f.now()
	m := f.marks[cl]
	if m == nil {
		m = map[uint16]mark{}
		f.marks[cl] = m
	}
	if old, dup := m[id]; dup { // a redelivery of an id still in flight
		delete(f.light[cl], id)
		f.release(old)
	}
	m[id] = mark{at: now, identity: identity, light: fl.inflight < f.share}
	if m[id].light {
		if f.light[cl] == nil {
			f.light[cl] = map[uint16]time.Time{}
		}
		f.light[cl][id] = now
	}
	fl.inflight++
	fl.last = now
	f.mu.Unlock()
	return waited
}

// congested says whether identity must keep to its share now: a light
// identity waits, or waited recently, too long, and another identity is
// active. Called with f.mu held.
func (f *fairShare) congested(identity string) bool {
	now := f.now()
	if now.Sub(f.lightSlow) > fairCongestion && !f.lightWaiting(now) {
		return false
	}
	for id, fl := range f.flows {
		if id != identity && (fl.inflight > 0 || now.Sub(fl.last) < fairActive) {
			return true
		}
	}
	return false
}

// lightWaiting says whether a light reading has been in the ingest longer
// than target. Called with f.mu held.
func (f *fairShare) lightWaiting(now time.Time) bool {
	for _, m := range f.light {
		for _, at := range m {
			if now.Sub(at) > f.target {
				return true
			}
		}
	}
	return false
}

// acked is called as the PUBACK (PUBREC at QoS 2) of packet id goes to cl.
func (f *fairShare) acked(cl *mqtt.Client, id uint16) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.marks[cl][id]
	if !ok {
		return
	}
	delete(f.marks[cl], id)
	delete(f.light[cl], id)
	if m.light && f.now().Sub(m.at) > f.target {
		f.lightSlow = f.now()
	}
	f.release(m)
}

// release takes a reading off its identity's count. Called with f.mu held.
func (f *fairShare) release(m mark) {
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
	for _, m := range f.marks[cl] {
		f.release(m)
	}
	delete(f.marks, cl)
	delete(f.light, cl)
}
