// Package runtimemetrics adds what every Kordon process exposes beside its
// own metrics: the Go runtime's go_* and the process's process_* metrics,
// and kordon_build_info naming the program, its version and Go's.
package runtimemetrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kordon/kordon/internal/version"
)

// Register adds the runtime, process and build-info collectors to reg.
func Register(reg prometheus.Registerer, program string) {
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "kordon_build_info",
			Help:        "Always 1; the labels name the program, its version and the Go version it was built with.",
			ConstLabels: prometheus.Labels{"program": program, "version": version.Version, "goversion": runtime.Version()},
		}, func() float64 { return 1 }),
	)
}
