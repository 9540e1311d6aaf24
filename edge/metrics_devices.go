package edge

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kordon/kordon/internal/device"
)

// deviceCollector reports each device's availability and last reading.
// Availability is a fixed set of series per device — up, and one
// down_reason series per known reason, 1 for the current one — so a
// device changing state changes values, never creates series.
type deviceCollector struct{ b *Box }

var (
	mDevUp          = prometheus.NewDesc("kordon_edge_device_up", "1 when the device is up.", []string{"device"}, nil)
	mDevDownReason  = prometheus.NewDesc("kordon_edge_device_down_reason", "1 for the reason the device is down (unplugged, timeout, errors, stopped, other); 0 for the others and while it is up.", []string{"device", "reason"}, nil)
	mDevLastReading = prometheus.NewDesc("kordon_edge_device_last_reading_timestamp_seconds", "When the device's last reading was taken (its first byte), Unix time; absent before the first.", []string{"device"}, nil)
)

// downReasons is the bounded set the down_reason label takes.
var downReasons = []string{string(device.Unplugged), string(device.Timeout), string(device.Errors), string(device.Stopped), "other"}

func boundedReason(r string) string {
	for _, k := range downReasons {
		if r == k {
			return r
		}
	}
	return "other"
}

func (c deviceCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c deviceCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.b.Status()
	for _, d := range c.b.devices {
		a, known := st.Availability[d.ID]
		up := known && a.State == "up"
		ch <- prometheus.MustNewConstMetric(mDevUp, prometheus.GaugeValue, b2f(up), d.ID)
		current := ""
		if known && !up {
			current = boundedReason(a.Reason)
		}
		for _, r := range downReasons {
			ch <- prometheus.MustNewConstMetric(mDevDownReason, prometheus.GaugeValue, b2f(r == current), d.ID, r)
		}
		if t, ok := c.b.lastReading.Load(d.ID); ok {
			ch <- prometheus.MustNewConstMetric(mDevLastReading, prometheus.GaugeValue, float64(t.(time.Time).UnixNano())/1e9, d.ID)
		}
	}
}
