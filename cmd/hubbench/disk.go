package main

import (
	"os"
	"time"
)

// diskSyncs is the least a PUBACK after an fsync can wait on this disk at
// nominal load: readings arrive on schedule, perSecond of them, for dur;
// one writer appends what a commit writes to the WAL (about ten 4 KiB
// pages for a reading with its alert, hub/walpages_test.go) to a file
// beside the hub's database and fsyncs it (what SQLite calls at
// synchronous=FULL; it does not trust fdatasync), each sync for every
// reading that had arrived when it began, as the group commit does. A
// reading's latency runs from its arrival to the end of its sync, so a
// sync the disk stalls delays every reading that arrives meanwhile, as it
// delays the hub's.
func diskSyncs(dir string, perSecond float64, dur time.Duration) ([]time.Duration, error) {
	f, err := os.CreateTemp(dir, "disksync-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	page := make([]byte, syncPages*4096)
	period := time.Duration(float64(time.Second) / perSecond)
	start := time.Now()
	n := int(dur / period)
	lat := make([]time.Duration, 0, n)
	for next := 0; next < n; {
		due := start.Add(time.Duration(next) * period)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		began := time.Now()
		arrived := min(n, int(began.Sub(start)/period)+1) // readings due by now, this sync's
		if _, err := f.Write(page); err != nil {
			return nil, err
		}
		if err := f.Sync(); err != nil {
			return nil, err
		}
		done := time.Now()
		for ; next < arrived; next++ {
			lat = append(lat, done.Sub(start.Add(time.Duration(next)*period)))
		}
	}
	return lat, nil
}

// syncPages is how many pages each of diskSyncs' appends writes.
const syncPages = 10
