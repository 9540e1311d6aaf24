// Package clock tells whether the box clock is synchronised, so every
// reading says how far its time can be trusted.
package clock

import (
	"golang.org/x/sys/unix"

	"github.com/kordon/kordon/internal/reading"
)

// State asks the kernel (adjtimex, read-only) whether NTP or another time
// source keeps the clock in sync.
func State() reading.Clock {
	var tx unix.Timex
	st, err := unix.Adjtimex(&tx)
	if err != nil {
		return reading.ClockUnknown
	}
	if st == unix.TIME_ERROR || tx.Status&unix.STA_UNSYNC != 0 {
		return reading.ClockUnsynced
	}
	return reading.ClockSynced
}
