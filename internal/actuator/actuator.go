// Package actuator is the contract between the box and a device that acts
// rather than reports (a CCTV alarm output): what it is asked to do, what
// it says it did, and the local rules that ask it. Drivers and the edge
// both import it; it imports neither.
package actuator

import (
	"time"

	"github.com/kordon/kordon/internal/contract"
)

// Request asks an actuator to act.
type Request struct {
	Action  string               // "activate" (default) or "release"
	Cause   string               // "rule:<name>" or "command:<id>"
	Reading *contract.ReadingRef // the reading that fired a rule
	At      time.Time            // when the request was made (latency is measured from here)
}

// Result says what an actuator did.
type Result struct {
	Action string // activated | folded | deferred | released | idle
	Detail string
}

// Actuator is something the box can trigger: a CCTV alarm output.
type Actuator interface {
	Fire(Request) (Result, error)
}

// Attacher is implemented by the edge's device.Output: an actuator device
// attaches itself and its compiled rules for as long as it runs.
type Attacher interface {
	AttachActuator(a Actuator, rules []Rule) (detach func())
}
