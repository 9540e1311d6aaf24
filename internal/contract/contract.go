// Package contract is Kordon's MQTT contract (docs/mqtt.md): topic names
// and the JSON messages other than readings, shared by edged and hubd.
package contract

import (
	"strings"
	"time"
)

// Prefix versions every topic; a v2 contract can run beside v1.
const Prefix = "kordon/v1"

// Topics of one box.
func BoxState(crossing, box string) string { return Prefix + "/" + crossing + "/" + box + "/state" }
func Availability(crossing, box, device string) string {
	return Prefix + "/" + crossing + "/" + box + "/devices/" + device + "/availability"
}
func Readings(crossing, box, device string) string {
	return Prefix + "/" + crossing + "/" + box + "/devices/" + device + "/readings"
}
func Commands(crossing, box string) string { return Prefix + "/" + crossing + "/" + box + "/commands" }
func Replies(crossing, box string) string  { return Prefix + "/" + crossing + "/" + box + "/replies" }

// BoxRoot is everything under one box; the ACL grants it to that box.
func BoxRoot(crossing, box string) string { return Prefix + "/" + crossing + "/" + box + "/" }

// Alerts is where the hub publishes alerts of a crossing.
func Alerts(crossing string) string { return Prefix + "/" + crossing + "/hub/alerts" }

// Filters the hub subscribes to.
func AllReadings(crossing string) string { return Prefix + "/" + crossing + "/+/devices/+/readings" }
func AllAvailability(crossing string) string {
	return Prefix + "/" + crossing + "/+/devices/+/availability"
}
func AllBoxStates(crossing string) string { return Prefix + "/" + crossing + "/+/state" }
func AllReplies(crossing string) string   { return Prefix + "/" + crossing + "/+/replies" }

// Parsed is a topic split into its parts.
type Parsed struct {
	Crossing, Box, Device, Leaf string
}

// Parse splits a Kordon topic; ok is false for anything else.
func Parse(topic string) (p Parsed, ok bool) {
	rest, found := strings.CutPrefix(topic, Prefix+"/")
	if !found {
		return p, false
	}
	// Cut, not Split: the hub parses every PUBLISH's topic a few times,
	// and Split allocates each time.
	var parts [5]string
	n := 0
	for ; n < len(parts); n++ {
		var more bool
		parts[n], rest, more = strings.Cut(rest, "/")
		if !more {
			break
		}
	}
	switch {
	case n == 2:
		return Parsed{Crossing: parts[0], Box: parts[1], Leaf: parts[2]}, true
	case n == 4 && parts[2] == "devices":
		return Parsed{Crossing: parts[0], Box: parts[1], Device: parts[3], Leaf: parts[4]}, true
	}
	return p, false
}

// Schema tags of the non-reading messages.
const (
	StateV1        = "kordon.state/1"
	AvailabilityV1 = "kordon.availability/1"
	AlertV1        = "kordon.alert/1"
	CommandV1      = "kordon.command/1"
	ReplyV1        = "kordon.reply/1"
)

// State is a box's retained state; its Last Will says offline.
type State struct {
	Schema   string          `json:"schema"`
	Crossing string          `json:"crossing"`
	Box      string          `json:"box"`
	State    string          `json:"state"` // online | offline
	Time     time.Time       `json:"time"`
	Firmware string          `json:"firmware,omitempty"`
	Devices  []InventoryItem `json:"devices,omitempty"`
	// Loss shows readings the box could not keep (outbox full), so the BLO
	// sees it even when nothing else says so. Omitted when nothing was lost.
	Loss *Loss `json:"loss,omitempty"`
	// Incarnation is the life of the box's sequence state its readings now
	// carry (reading envelope v2); the hub records each new one it sees.
	Incarnation string `json:"incarnation,omitempty"`
	// Counters are each device's running totals of what never became a
	// reading (noise, torn frames, unparsed files), by device then counter.
	Counters map[string]map[string]int64 `json:"counters,omitempty"`
}

// Loss counts readings a box could not keep since it was installed.
type Loss struct {
	Dropped map[string]int64 `json:"dropped,omitempty"` // readings not kept, by reason (outbox full, disk full, corrupt segment, …)
	Refused int64            `json:"refused"`           // protected readings refused: outbox full
	Full    bool             `json:"full"`              // the outbox is full now
}

// InventoryItem is one device a box announces when it connects.
type InventoryItem struct {
	ID     string `json:"id"`
	Driver string `json:"driver"`
	Kind   string `json:"kind"`
}

// DeviceAvailability is a device's retained availability.
type DeviceAvailability struct {
	Schema string    `json:"schema"`
	Box    string    `json:"box"`
	Device string    `json:"device"`
	State  string    `json:"state"` // up | down
	Reason string    `json:"reason,omitempty"`
	Detail string    `json:"detail,omitempty"`
	Time   time.Time `json:"time"`
}

// ReadingRef points at one stored reading.
type ReadingRef struct {
	Box    string `json:"box"`
	Device string `json:"device"`
	// Incarnation is the box life the reading belongs to ("" for a v1
	// reading): (box, incarnation, device, seq) names one reading.
	Incarnation string `json:"incarnation,omitempty"`
	Seq         uint64 `json:"seq"`
}

// Alert is raised by a hub rule. Summary never holds personal data.
type Alert struct {
	Schema   string       `json:"schema"`
	ID       string       `json:"id"`
	Crossing string       `json:"crossing"`
	Box      string       `json:"box"`
	Device   string       `json:"device"`
	Rule     string       `json:"rule"`
	Severity string       `json:"severity"` // info | low | medium | high | critical
	Summary  string       `json:"summary"`
	Time     time.Time    `json:"time"` // origin time of the reading that raised it
	Raised   time.Time    `json:"raised"`
	Readings []ReadingRef `json:"readings"`
	State    string       `json:"state"` // open | acknowledged | resolved
}

// Command is sent by the hub to one box.
type Command struct {
	Schema  string            `json:"schema"`
	ID      string            `json:"id"` // correlation id; a repeated id acts once
	Name    string            `json:"name"`
	Args    map[string]string `json:"args,omitempty"`
	Expires time.Time         `json:"expires"`
}

// Reply answers a Command.
type Reply struct {
	Schema string            `json:"schema"`
	ID     string            `json:"id"`
	Name   string            `json:"name"`
	OK     bool              `json:"ok"`
	Result map[string]string `json:"result,omitempty"`
	Error  string            `json:"error,omitempty"`
	Time   time.Time         `json:"time"`
}
