package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// gcPace reads the collector's percent and memory limit without changing them.
func gcPace() (percent int, limit int64) {
	percent = debug.SetGCPercent(-1)
	debug.SetGCPercent(percent)
	return percent, debug.SetMemoryLimit(-1) // a negative limit only reads it
}

func restoreGC(t *testing.T) {
	p, l := gcPace()
	t.Cleanup(func() { debug.SetGCPercent(p); debug.SetMemoryLimit(l) })
}

func TestTuneGCPacesTheCollectorForAHub(t *testing.T) {
	restoreGC(t)
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	tuneGC(func(string) string { return "" })
	if p, l := gcPace(); p != gcPercent || l != gcMemoryLimit {
		t.Fatalf("GOGC %d, memory limit %d; want %d, %d", p, l, gcPercent, gcMemoryLimit)
	}
}

func TestTuneGCLeavesWhatTheEnvironmentSets(t *testing.T) {
	restoreGC(t)
	debug.SetGCPercent(50) // as GOGC=50 would have at start
	debug.SetMemoryLimit(2 << 30)
	env := map[string]string{"GOGC": "50", "GOMEMLIMIT": "2GiB"}
	tuneGC(func(k string) string { return env[k] })
	if p, l := gcPace(); p != 50 || l != 2<<30 {
		t.Fatalf("GOGC %d, memory limit %d; want the environment's 50, %d", p, l, int64(2<<30))
	}
}
