package edge

import (
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kordon/kordon/internal/version"
)

// processStart is when this process began, for process_start_time_seconds.
var processStart = time.Now()

// runtimeSamples are read from runtime/metrics, which (unlike
// runtime.ReadMemStats) does not stop the world.
var runtimeSamples = []struct{ key, name, typ, help string }{
	{"/sched/goroutines:goroutines", "go_goroutines", "gauge", "Number of goroutines that currently exist."},
	{"/memory/classes/heap/objects:bytes", "go_memstats_alloc_bytes", "gauge", "Bytes of allocated heap objects."},
	{"/memory/classes/total:bytes", "go_memstats_sys_bytes", "gauge", "Bytes of memory obtained from the OS."},
	{"/gc/cycles/total:gc-cycles", "go_gc_cycles_total", "counter", "Completed GC cycles."},
	{"/gc/heap/goal:bytes", "go_gc_heap_goal_bytes", "gauge", "Heap size target for the end of the GC cycle."},
}

// writeRuntimeMetrics writes the Go runtime's go_* and the process's
// process_* metrics under the names client_golang's collectors use (so
// dashboards work the same on hubd), and kordon_build_info. Written by
// hand for the reason metricsHandler gives.
func writeRuntimeMetrics(p *promText, program string) {
	s := make([]metrics.Sample, len(runtimeSamples))
	for i, r := range runtimeSamples {
		s[i].Name = r.key
	}
	metrics.Read(s)
	for i, r := range runtimeSamples {
		var v float64
		switch s[i].Value.Kind() {
		case metrics.KindUint64:
			v = float64(s[i].Value.Uint64())
		case metrics.KindFloat64:
			v = s[i].Value.Float64()
		default:
			continue // not offered by this Go version
		}
		p.sample(r.name, r.typ, r.help, v)
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		p.sample("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", cpu)
	}
	if rss, ok := residentBytes(); ok {
		p.sample("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", float64(rss))
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		p.sample("process_open_fds", "gauge", "Number of open file descriptors.", float64(len(fds)))
	}
	p.sample("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", float64(processStart.Unix()))
	p.sample("kordon_build_info", "gauge", "Always 1; the labels name the program, its version and the Go version it was built with.", 1,
		"goversion", runtime.Version(), "program", program, "version", version.Version)
}

// residentBytes reads the resident set size from /proc/self/statm.
func residentBytes() (int64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}
