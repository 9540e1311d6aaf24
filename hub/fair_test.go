package hub

import (
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/kordon/kordon/internal/contract"
)

// While another box is active and the hub is congested, a flooding box is
// held to its fair share of readings in the ingest, and loses none of them.
func TestFloodingBoxKeepsToItsFairShare(t *testing.T) {
	h := hostileHub(t, nil)
	h.auth.fair.mu.Lock()
	h.auth.fair.target = 0          // every light reading counts as slow: congested throughout
	h.auth.fair.maxWait = time.Hour // a commit stalled on a loaded machine does not let the flood in
	h.auth.fair.mu.Unlock()
	legit := boxClient(t, h, "booth1")
	stop := make(chan struct{})
	legitDone := make(chan struct{})
	first := make(chan struct{})
	go func() {
		defer close(legitDone)
		one := specimen(t, "booth1", "reader1", 1)
		for seq := uint64(1); ; seq++ {
			tok := legit.Publish(contract.Readings(testCrossing, "booth1", "reader1"), 1, false, withSeq(one, seq))
			tok.WaitTimeout(10 * time.Second)
			if seq == 1 {
				close(first)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	<-first
	flood := boxClient(t, h, "booth2")
	one := specimen(t, "booth2", "reader1", 1)
	const n = 600
	sampled := make(chan int)
	go func() {
		most := 0
		for {
			select {
			case <-stop:
				sampled <- most
				return
			case <-time.After(time.Millisecond):
			}
			h.auth.fair.mu.Lock()
			if fl := h.auth.fair.flows["booth2"]; fl != nil {
				most = max(most, fl.inflight)
			}
			h.auth.fair.mu.Unlock()
		}
	}()
	// As edged drains a backlog: a window of 256 unacknowledged readings.
	window := make(chan paho.Token, 256)
	acked := func(tok paho.Token) {
		if !tok.WaitTimeout(60*time.Second) || tok.Error() != nil {
			t.Fatalf("flooding box's reading not acknowledged: %v", tok.Error())
		}
	}
	for seq := uint64(1); seq <= n; seq++ {
		if len(window) == cap(window) {
			acked(<-window)
		}
		window <- flood.Publish(contract.Readings(testCrossing, "booth2", "reader1"), 1, false, withSeq(one, seq))
	}
	for len(window) > 0 {
		acked(<-window)
	}
	close(stop)
	<-legitDone
	most := <-sampled
	t.Logf("flooding box: at most %d readings in the ingest (share %d), held back %d times", most, DefaultFairShare, h.refusedFor("fair_share"))
	if most > DefaultFairShare {
		t.Fatalf("flooding box had %d readings in the ingest while another box was active, share %d", most, DefaultFairShare)
	}
	if h.refusedFor("fair_share") == 0 {
		t.Fatal("holding the flooding box back not counted")
	}
	waitFor(t, "every flooded reading stored", func() bool { return h.Counters().Readings >= n+1 })
}

// A box sending large messages faster than its byte rate is read more
// slowly, whatever becomes of the messages.
func TestByteRateSlowsLargeMessages(t *testing.T) {
	h := hostileHub(t, func(c *Config) { c.Limits.ByteRate = 256 << 10 })
	c := boxClient(t, h, "booth1")
	junk := make([]byte, 32<<10)
	root := contract.BoxRoot(testCrossing, "booth1")
	start := time.Now()
	for range 20 { // 640 KiB: more than a second's worth
		c.Publish(root+"junk", 0, false, junk).Wait()
	}
	waitFor(t, "the junk refused", func() bool { return h.refusedFor("acl") >= 20 })
	t.Logf("20 × 32 KiB read in %v at 256 KiB/s", time.Since(start).Round(time.Millisecond))
	if h.refusedFor("byte_rate") == 0 {
		t.Fatal("a box over its byte rate was not slowed")
	}
}

// Only an identity with its share in flight while another waits too long
// is held (and so has its commits paced, pipeline.go Linger); the light
// one that waits is not.
func TestHeldIsTheHeavyIdentityWhileAnotherWaits(t *testing.T) {
	now := time.Unix(1000, 0)
	f := newFairShare(2)
	f.now = func() time.Time { return now }
	heavy, light := &mqtt.Client{}, &mqtt.Client{}
	f.admit(light, "booth1", 1)
	f.admit(heavy, "booth2", 1)
	f.admit(heavy, "booth2", 2)
	if f.held("booth2") || f.held("booth1") {
		t.Fatal("held before anyone waited too long")
	}
	now = now.Add(f.target + time.Millisecond) // booth1's reading waits beyond the target
	if !f.held("booth2") {
		t.Error("the heavy identity is not held while a light one waits")
	}
	if f.held("booth1") {
		t.Error("the light identity that waits is held")
	}
	f.acked(heavy, 1)
	if f.held("booth2") {
		t.Error("held below its share")
	}
}

// A held identity goes in rounds: its share, then nothing until the round
// is acknowledged and a pause of fairPause times the round has passed, so
// its commits take at most a quarter of the time.
func TestHeldIdentityGoesInRoundsWithPauses(t *testing.T) {
	now := time.Unix(1000, 0)
	f := newFairShare(2)
	f.now = func() time.Time { return now }
	heavy, light := &mqtt.Client{}, &mqtt.Client{}
	f.admit(light, "booth1", 1)
	now = now.Add(f.target + time.Millisecond) // booth1 waits too long: congested
	f.admit(heavy, "booth2", 1)
	f.admit(heavy, "booth2", 2)
	fl := f.flows["booth2"]
	waits := func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.mustWait(fl, f.now()) && f.congested("booth2", f.now())
	}
	if !waits() {
		t.Fatal("a held identity with its share in flight admits more")
	}
	now = now.Add(4 * time.Millisecond)
	f.acked(heavy, 1)
	if !waits() {
		t.Fatal("a held identity starts its next round before this one is acknowledged")
	}
	f.acked(heavy, 2) // the round took 4 ms: pause 12 ms
	if !waits() {
		t.Fatal("no pause after a held round")
	}
	now = now.Add(fairPause*4*time.Millisecond - time.Millisecond)
	if !waits() {
		t.Fatal("the pause ended before fairPause times the round")
	}
	now = now.Add(2 * time.Millisecond)
	if waits() {
		t.Fatal("the next round does not start after the pause")
	}
	f.acked(light, 1)
	f.lightSlow = map[string]time.Time{}
	f.admit(heavy, "booth2", 3)
	f.admit(heavy, "booth2", 4)
	f.acked(heavy, 3)
	f.acked(heavy, 4)
	if waits() {
		t.Fatal("an identity alone waits between rounds")
	}
}

// When every identity drains a backlog at once (as after a station-wide
// outage), each one's readings wait behind the others' and none is light
// in rate: once each has had its share in flight, no identity is held,
// whatever the readings' waits, even when a box's in flight falls below
// its share between commits.
func TestUniformLoadHoldsNoIdentity(t *testing.T) {
	now := time.Unix(1000, 0)
	f := newFairShare(8)
	f.now = func() time.Time { return now }
	const boxes, window = 20, 32
	type box struct {
		cl       *mqtt.Client
		identity string
		next     uint16
		inflight []uint16 // oldest first
	}
	all := make([]*box, boxes)
	for i := range all {
		all[i] = &box{cl: &mqtt.Client{}, identity: fmt.Sprintf("booth%d", i)}
	}
	mayAdmit := func(b *box) bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return !(f.mustWait(f.flows[b.identity], f.now()) && f.congested(b.identity, f.now()))
	}
	fill := func(b *box, upTo int) {
		for len(b.inflight) < upTo {
			if f.flows[b.identity] != nil && !mayAdmit(b) {
				t.Fatalf("%s held at %d in flight under a uniform load", b.identity, len(b.inflight))
			}
			b.next++
			f.admit(b.cl, b.identity, b.next)
			b.inflight = append(b.inflight, b.next)
		}
	}
	// Their first readings, read before each box has its share in
	// flight, wait beyond the target: a box is light until it has.
	for _, b := range all {
		fill(b, f.share/2)
	}
	now = now.Add(15 * time.Millisecond)
	for _, b := range all {
		for _, id := range b.inflight {
			f.acked(b.cl, id)
		}
		b.inflight = nil
	}
	for _, b := range all {
		fill(b, f.share)
	}
	for _, b := range all {
		fill(b, window)
	}
	// Each commit takes a batch from every box and is far beyond the
	// target; in every other round the boxes drain down to light and
	// refill, as a box does once its window is acknowledged.
	for round := range 200 {
		now = now.Add(15 * time.Millisecond)
		for _, b := range all {
			n := 8
			if round%2 == 1 {
				n = len(b.inflight) // all acknowledged: the box is light for a moment
			}
			for _, id := range b.inflight[:n] {
				f.acked(b.cl, id)
			}
			b.inflight = b.inflight[n:]
		}
		for _, b := range all {
			if f.held(b.identity) {
				t.Fatalf("round %d: %s held under a uniform load", round, b.identity)
			}
			fill(b, window)
		}
	}
}

// A booth's reading that waits too long among boxes draining backlogs
// still holds them: the booth is light in rate, the drainers are not.
func TestLightBoxAmongDrainingBoxesHoldsThem(t *testing.T) {
	now := time.Unix(1000, 0)
	f := newFairShare(2)
	f.now = func() time.Time { return now }
	booth, d1, d2 := &mqtt.Client{}, &mqtt.Client{}, &mqtt.Client{}
	for id := uint16(1); id <= 4; id++ {
		f.admit(d1, "booth2", id)
		f.admit(d2, "booth3", id)
	}
	f.admit(booth, "booth1", 1)
	now = now.Add(f.target + time.Millisecond)
	if !f.held("booth2") || !f.held("booth3") {
		t.Fatal("draining boxes not held while a booth's reading waits")
	}
	f.acked(booth, 1) // it waited too long: congested for fairCongestion
	now = now.Add(fairHeavy)
	f.admit(booth, "booth1", 2)
	f.acked(booth, 2)
	if !f.held("booth2") || f.held("booth1") {
		t.Fatal("after the booth's slow reading: the drainer not held, or the booth held")
	}
}
