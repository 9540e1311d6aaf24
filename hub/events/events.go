// Package events is what the hub tells the parts that act on stored data
// (the live page, alert publishing, the gap detector, a BLO uplink), after
// the transaction that stored it has committed. A subscriber never sees
// anything that could still be rolled back.
package events

import (
	"sync"
	"time"

	"github.com/kordon/kordon/internal/contract"
)

// Subscriber receives committed batches. Committed is called on the
// hub's commit path, one call at a time, in commit order: it must return
// quickly (hand work to a goroutine of its own) and must not modify the
// batch. A subscriber that must not miss anything across a restart (an
// uplink) keeps the last Change.Seq it has handled and catches up from the
// store's alert log (dash.Store.LogSince) when it starts.
type Subscriber interface {
	Committed(b *Batch)
}

// Func adapts a function to Subscriber.
type Func func(*Batch)

func (f Func) Committed(b *Batch) { f(b) }

// Batch is what one transaction stored.
type Batch struct {
	Readings   []Reading             // readings new to the store, in commit order
	Duplicates []contract.ReadingRef // redeliveries of readings already stored
	Refused    []Refusal             // readings the hub refused and recorded
	Alerts     []contract.Alert      // alerts raised
	// AlertJSON holds, where the hub made it to store the alert, Alerts[i]
	// as JSON (the alert's stored body), so that a subscriber sending it
	// on need not encode it again; a nil entry, or a slice shorter than
	// Alerts, means it was not made.
	AlertJSON [][]byte
	// Changes are the alert log entries written: "raised" for each alert
	// above, then repeats, cleared conditions, acknowledgements and
	// resolutions, each with its log sequence number.
	Changes      []Change
	Incarnations []Incarnation // box lives seen for the first time
}

// Reading is one stored reading.
type Reading struct {
	Ref  contract.ReadingRef
	Kind string
	// Redacted renders the envelope with the kind's personal fields
	// withheld (computed on demand; the stored form is not exposed here).
	Redacted func() []byte
}

// Refusal is a reading the hub refused but could identify: its number
// counts as accounted for, never asked for again.
type Refusal struct {
	Ref    contract.ReadingRef
	Reason string
	Size   int
}

// Change is one entry of the alert log.
type Change struct {
	Seq     int64 // alert_log sequence: a total order of every change
	AlertID string
	Action  string // raised | repeated | cleared | acknowledged | resolved
	User    string `json:",omitempty"`
	Role    string `json:",omitempty"`
	Note    string `json:",omitempty"`
	Time    time.Time
	Ref     *contract.ReadingRef // the reading behind a repeat or clear
}

// Incarnation is a life of a box's sequence state (reading envelope v2).
type Incarnation struct {
	Box, Incarnation string
	First            time.Time
}

// Fanout calls several subscribers in turn, one batch at a time (ingest
// and the dashboard's acknowledgements commit from different goroutines).
type Fanout struct {
	mu   sync.Mutex
	subs []Subscriber
}

// Add attaches a subscriber; call it before the hub starts.
func (f *Fanout) Add(s Subscriber) { f.subs = append(f.subs, s) }

// Committed passes b to every subscriber in the order they were added.
func (f *Fanout) Committed(b *Batch) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.subs {
		s.Committed(b)
	}
}
