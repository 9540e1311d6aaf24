package hub

import (
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kordon/kordon/hub/events"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/runtimemetrics"
)

// counters are one hub's running totals, kept from committed batches (a
// subscriber of its own kind) and from the refusals ingest makes.
type counters struct {
	readings, duplicates, refused, alerts, storeFailures atomic.Int64

	mu           sync.Mutex
	refusedBy    map[string]int64    // reason -> payloads refused
	refusedBox   map[[2]string]int64 // (box, reason) -> readings refused and recorded
	incarnations map[string]int64    // box -> incarnations recorded
}

func newCounters() *counters {
	return &counters{refusedBy: map[string]int64{}, refusedBox: map[[2]string]int64{}, incarnations: map[string]int64{}}
}

func (c *counters) refusedPayload(why string) {
	c.refused.Add(1)
	c.mu.Lock()
	c.refusedBy[why]++
	c.mu.Unlock()
}

func (c *counters) committed(b *events.Batch) {
	c.readings.Add(int64(len(b.Readings)))
	c.duplicates.Add(int64(len(b.Duplicates)))
	c.alerts.Add(int64(len(b.Alerts)))
	if len(b.Refused) == 0 && len(b.Incarnations) == 0 {
		return
	}
	c.mu.Lock()
	for _, r := range b.Refused {
		c.refusedBox[[2]string{r.Ref.Box, r.Reason}]++
	}
	for _, i := range b.Incarnations {
		c.incarnations[i.Box]++
	}
	c.mu.Unlock()
}

// MetricsHandler serves Prometheus metrics for this hub, read at scrape
// time from the counters the hub already keeps.
func (h *Hub) MetricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(hubCollector{h}, deviceCollector{h}, h.auth.counts, h.auth.web, &h.ingest.rules.errs) // deviceCollector: metrics_devices.go; refusals (limits.go), rule errors (ruleerrors.go)
	runtimemetrics.Register(reg, "hubd")
	reg.MustRegister(evidenceCollector{h}) // evidence.go
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

type hubCollector struct{ h *Hub }

var (
	mReadings     = prometheus.NewDesc("kordon_hub_readings_stored_total", "Readings stored (each (box, incarnation, device, seq) once).", nil, nil)
	mDuplicates   = prometheus.NewDesc("kordon_hub_readings_duplicate_total", "Redelivered readings dropped as duplicates.", nil, nil)
	mRefused      = prometheus.NewDesc("kordon_hub_payloads_refused_total", "Payloads refused, by reason.", []string{"reason"}, nil)
	mRefusedBox   = prometheus.NewDesc("kordon_hub_readings_refused_total", "Readings refused and recorded as refused (their numbers accounted for), by box and reason.", []string{"box", "reason"}, nil)
	mStoreFail    = prometheus.NewDesc("kordon_hub_store_failures_total", "Messages not stored (no PUBACK: the box sends them again).", nil, nil)
	mIncarnations = prometheus.NewDesc("kordon_hub_box_incarnations_total", "Lives of a box's sequence state recorded since the hub started with this database's history.", []string{"box"}, nil)
	mIncarnation  = prometheus.NewDesc("kordon_hub_box_incarnation", "1 for the incarnation a box's state names now.", []string{"box", "incarnation"}, nil)
	mBoxDropped   = prometheus.NewDesc("kordon_hub_box_readings_dropped", "Readings a box reports it could not keep, by reason (from its state).", []string{"box", "reason"}, nil)
	mBoxRefused   = prometheus.NewDesc("kordon_hub_box_readings_refused", "Protected readings a box refused because its outbox was full (from its state).", []string{"box"}, nil)
	mBoxFull      = prometheus.NewDesc("kordon_hub_box_outbox_full", "1 when a box reports its outbox full.", []string{"box"}, nil)
	mDevCounter   = prometheus.NewDesc("kordon_hub_device_counter", "A device's running totals of what never became a reading (from the box state).", []string{"box", "device", "counter"}, nil)
	mClients      = prometheus.NewDesc("kordon_hub_clients_refused_total", "Connections refused, by reason.", []string{"reason"}, nil)
	mDenied       = prometheus.NewDesc("kordon_hub_acl_denied_total", "Publishes or subscriptions outside a client's topics.", nil, nil)
	mAlerts       = prometheus.NewDesc("kordon_hub_alerts_total", "Alerts raised.", nil, nil)
	mUnpublished  = prometheus.NewDesc("kordon_hub_alerts_unpublished_total", "Alerts stored but not put on the alert topic (its queue full, or the broker refused them).", nil, nil)
	mGaps         = prometheus.NewDesc("kordon_hub_sequence_gaps_total", "Holes seen in a device's sequence.", nil, nil)
	mResendReq    = prometheus.NewDesc("kordon_hub_resend_requests_total", "Resend commands sent to boxes.", nil, nil)
	mLost         = prometheus.NewDesc("kordon_hub_readings_lost_total", "Readings recorded as lost (gone at the box, or in a box life that ended).", nil, nil)
	mPruned       = prometheus.NewDesc("kordon_hub_readings_pruned_total", "Readings removed by the retention policy.", nil, nil)
	mConnected    = prometheus.NewDesc("kordon_hub_clients_connected", "Clients connected to the broker.", nil, nil)
	mBoxOnline    = prometheus.NewDesc("kordon_hub_box_online", "1 when the box's retained state is online.", []string{"box"}, nil)
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
	k := h.count
	n(mReadings, k.readings.Load())
	n(mDuplicates, k.duplicates.Load())
	n(mStoreFail, k.storeFailures.Load())
	k.mu.Lock()
	for why, v := range k.refusedBy {
		n(mRefused, v, why)
	}
	for br, v := range k.refusedBox {
		n(mRefusedBox, v, br[0], br[1])
	}
	for box, v := range k.incarnations {
		n(mIncarnations, v, box)
	}
	k.mu.Unlock()
	n(mClients, h.auth.refused.Load(), "credentials")
	n(mClients, h.auth.counts.get("certificate"), "certificate")
	n(mDenied, h.auth.denied.Load())
	n(mAlerts, k.alerts.Load())
	n(mUnpublished, h.alerts.unpublished.Load())
	n(mGaps, h.gaps.gaps.Load())
	n(mResendReq, h.gaps.requests.Load())
	n(mLost, h.gaps.lost.Load())
	n(mPruned, h.retention.pruned.Load())
	g(mConnected, float64(atomic.LoadInt64(&h.broker.Info.ClientsConnected)))
	seen := map[string]bool{} // a box's state and a device's availability once each
	for _, b := range h.ingest.snapshot() {
		var head struct{ Schema string }
		if json.Unmarshal(b, &head) != nil {
			continue
		}
		switch head.Schema {
		case contract.StateV1:
			var s contract.State
			if json.Unmarshal(b, &s) != nil || s.Box == "" || seen["s\x00"+s.Box] {
				continue
			}
			seen["s\x00"+s.Box] = true
			g(mBoxOnline, b2f(s.State == "online"), s.Box)
			if s.Incarnation != "" {
				g(mIncarnation, 1, s.Box, s.Incarnation)
			}
			if s.Loss != nil {
				for why, v := range s.Loss.Dropped {
					g(mBoxDropped, float64(v), s.Box, why)
				}
				g(mBoxRefused, float64(s.Loss.Refused), s.Box)
				g(mBoxFull, b2f(s.Loss.Full), s.Box)
			}
			for dev, cs := range s.Counters {
				for name, v := range cs {
					g(mDevCounter, float64(v), s.Box, dev, name)
				}
			}
		}
	}
}

func b2f(v bool) float64 {
	if v {
		return 1
	}
	return 0
}
