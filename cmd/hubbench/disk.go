package main

import (
	"os"
	"time"
)

// diskSyncs is the disk's own part of a PUBACK at nominal load: a 4 KiB
// append and an fsync (what SQLite calls at synchronous=FULL; it does not
// trust fdatasync) to a file beside the hub's database, as often as the
// nominal round's readings arrive, for dur. No hub can acknowledge a
// reading sooner than its disk keeps it, so the hub's latency beyond this
// is what the hub adds.
func diskSyncs(dir string, perSecond float64, dur time.Duration) ([]time.Duration, error) {
	f, err := os.CreateTemp(dir, "disksync-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	page := make([]byte, 4096)
	t := time.NewTicker(time.Duration(float64(time.Second) / perSecond))
	defer t.Stop()
	var lat []time.Duration
	for end := time.Now().Add(dur); time.Now().Before(end); {
		<-t.C
		start := time.Now()
		if _, err := f.Write(page); err != nil {
			return nil, err
		}
		if err := f.Sync(); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(start))
	}
	return lat, nil
}
