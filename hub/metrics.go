package hub

import (
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kordon/kordon/internal/contract"
)

// refusedBy counts refused payloads by reason, for every hub in the process.
var refusedBy sync.Map // reason -> *int64 under refusedMu

var refusedMu sync.Mutex

func countRefused(why string) {
	refusedMu.Lock()
	defer refusedMu.Unlock()
	v, _ := refusedBy.LoadOrStore(why, new(int64))
	*v.(*int64)++
}

// MetricsHandler serves Prometheus metrics for this hub, read at scrape
// time from the counters the hub already keeps.
func (h *Hub) MetricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(hubCollector{h})
	reg.MustRegister(evidenceCollector{h}) // evidence.go
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

type hubCollector struct{ h *Hub }

var (
	mReadings   = prometheus.NewDesc("kordon_hub_readings_stored_total", "Readings stored (each (box, device, seq) once).", nil, nil)
	mDuplicates = prometheus.NewDesc("kordon_hub_readings_duplicate_total", "Redelivered readings dropped as duplicates.", nil, nil)
	mRefused    = prometheus.NewDesc("kordon_hub_payloads_refused_total", "Payloads refused, by reason.", []string{"reason"}, nil)
	mClients    = prometheus.NewDesc("kordon_hub_clients_refused_total", "Connections refused, by reason.", []string{"reason"}, nil)
	mDenied     = prometheus.NewDesc("kordon_hub_acl_denied_total", "Publishes or subscriptions outside a client's topics.", nil, nil)
	mAlerts     = prometheus.NewDesc("kordon_hub_alerts_total", "Alerts raised.", nil, nil)
	mGaps       = prometheus.NewDesc("kordon_hub_sequence_gaps_total", "Holes seen in a device's sequence.", nil, nil)
	mResendReq  = prometheus.NewDesc("kordon_hub_resend_requests_total", "Resend commands sent to boxes.", nil, nil)
	mLost       = prometheus.NewDesc("kordon_hub_readings_lost_total", "Readings the boxes reported gone (recorded as lost).", nil, nil)
	mConnected  = prometheus.NewDesc("kordon_hub_clients_connected", "Clients connected to the broker.", nil, nil)
	mBoxOnline  = prometheus.NewDesc("kordon_hub_box_online", "1 when the box's retained state is online.", []string{"box"}, nil)
	mDevUp      = prometheus.NewDesc("kordon_hub_device_up", "1 when the device is up; reason says why not.", []string{"box", "device", "reason"}, nil)
)

func (c hubCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c hubCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.h
	n := func(d *prometheus.Desc, v int64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	g := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	n(mReadings, h.ingest.readings.Load())
	n(mDuplicates, h.ingest.duplicates.Load())
	refusedMu.Lock()
	refusedBy.Range(func(k, v any) bool {
		n(mRefused, *v.(*int64), k.(string))
		return true
	})
	refusedMu.Unlock()
	n(mClients, h.auth.refused.Load(), "credentials")
	n(mClients, tlsRefused.Load(), "certificate")
	n(mDenied, h.auth.denied.Load())
	n(mAlerts, h.ingest.alerts.Load())
	n(mGaps, h.gaps.gaps.Load())
	n(mResendReq, h.gaps.requests.Load())
	n(mLost, h.gaps.lost.Load())
	g(mConnected, float64(atomic.LoadInt64(&h.broker.Info.ClientsConnected)))
	for _, b := range h.ingest.snapshot() {
		var m struct {
			Schema, Box, Device, State, Reason string
		}
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		switch m.Schema {
		case contract.StateV1:
			g(mBoxOnline, b2f(m.State == "online"), m.Box)
		case contract.AvailabilityV1:
			g(mDevUp, b2f(m.State == "up"), m.Box, m.Device, m.Reason)
		}
	}
}

func b2f(v bool) float64 {
	if v {
		return 1
	}
	return 0
}
