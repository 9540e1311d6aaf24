package edge

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsHandler serves Prometheus metrics for this box. A collector reads
// the counters the box already keeps at scrape time, so the hot path pays
// nothing for metrics; its own registry keeps several boxes in one test
// process apart.
func (b *Box) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(boxCollector{b})
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

type boxCollector struct{ b *Box }

var (
	mOutboxRecords  = prometheus.NewDesc("kordon_edge_outbox_records", "Readings in the outbox not yet acknowledged by the hub.", nil, nil)
	mOutboxBytes    = prometheus.NewDesc("kordon_edge_outbox_bytes", "Bytes of readings not yet acknowledged by the hub.", nil, nil)
	mOutboxDisk     = prometheus.NewDesc("kordon_edge_outbox_disk_bytes", "Bytes the outbox occupies on disk.", nil, nil)
	mOutboxFull     = prometheus.NewDesc("kordon_edge_outbox_full", "1 when the last append hit the outbox bound.", nil, nil)
	mOutboxDiskFull = prometheus.NewDesc("kordon_edge_outbox_disk_full", "1 when the last new segment found no space on the filesystem.", nil, nil)
	mIncarnation    = prometheus.NewDesc("kordon_edge_incarnation_info", "The incarnation the box's readings carry, and why it began (new, state_missing, state_corrupt, segment_corrupt, segment_missing).", []string{"incarnation", "reason"}, nil)
	mIncarnations   = prometheus.NewDesc("kordon_edge_incarnations_total", "Incarnations begun because the sequence state could not be proven intact.", nil, nil)
	mOutboxSyncs    = prometheus.NewDesc("kordon_edge_outbox_syncs_total", "fdatasync calls of the outbox.", nil, nil)
	mOutboxWritten  = prometheus.NewDesc("kordon_edge_outbox_written_bytes_total", "Record bytes written to the outbox.", nil, nil)
	mReadingsIn     = prometheus.NewDesc("kordon_edge_readings_taken_total", "Readings taken into the outbox since start.", nil, nil)
	mReadingsOut    = prometheus.NewDesc("kordon_edge_readings_published_total", "Readings acknowledged by the hub since start.", nil, nil)
	mHistorical     = prometheus.NewDesc("kordon_edge_readings_historical_total", "Readings sent late, marked historical.", nil, nil)
	mDrops          = prometheus.NewDesc("kordon_edge_readings_dropped_total", "Readings the box could not keep, by reason (full, refused_full, disk_full, write_error, corrupt, unreadable, invalid).", []string{"reason"}, nil)
	mConnects       = prometheus.NewDesc("kordon_edge_hub_connects_total", "MQTT sessions established with the hub.", nil, nil)
	mFailures       = prometheus.NewDesc("kordon_edge_hub_failures_total", "Failed hub connection attempts and unacknowledged publishes.", nil, nil)
	mResends        = prometheus.NewDesc("kordon_edge_resend_requests_total", "Resend requests received from the hub.", nil, nil)
	mConnected      = prometheus.NewDesc("kordon_edge_hub_connected", "1 while connected to the hub.", nil, nil)
	mDeviceUp       = prometheus.NewDesc("kordon_edge_device_up", "1 when the device is up; the reason label says why it is down.", []string{"device", "reason"}, nil)
	mDeviceCount    = prometheus.NewDesc("kordon_edge_device_events_total", "Per-device counters (discarded input, lost readings), by name.", []string{"device", "what"}, nil)
)

func (c boxCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c boxCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.b
	st := b.Status()
	g := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	n := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	if o := st.Outbox; o != nil {
		g(mOutboxRecords, float64(o.Records))
		g(mOutboxBytes, float64(o.Bytes))
		g(mOutboxDisk, float64(o.DiskBytes))
		g(mOutboxFull, b2f(o.Full))
		g(mOutboxDiskFull, b2f(o.DiskFull))
		g(mIncarnation, 1, o.Incarnation, o.IncarnationReason)
		n(mIncarnations, float64(o.Incarnations))
		n(mOutboxSyncs, float64(o.Syncs))
		n(mOutboxWritten, float64(o.AppendBytes))
		n(mReadingsIn, float64(o.Appended))
		n(mDrops, float64(o.Refused), "refused_full")
		for reason, v := range o.Dropped {
			n(mDrops, float64(v), reason)
		}
	}
	n(mReadingsOut, float64(b.pub.published.Load()))
	n(mHistorical, float64(b.pub.historical.Load()))
	n(mConnects, float64(b.pub.connects.Load()))
	n(mFailures, float64(b.pub.failures.Load()))
	n(mResends, float64(b.pub.resends.Load()))
	g(mConnected, b2f(st.Connected))
	for dev, a := range st.Availability {
		g(mDeviceUp, b2f(a.State == "up"), dev, a.Reason)
	}
	for dev, m := range st.Counters {
		for what, v := range m {
			n(mDeviceCount, float64(v), dev, what)
		}
	}
}

func b2f(v bool) float64 {
	if v {
		return 1
	}
	return 0
}
