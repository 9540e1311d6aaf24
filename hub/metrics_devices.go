package hub

import (
	"encoding/json"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/device"
)

// deviceCollector reports each box device's availability as a fixed set
// of series — up, and one down_reason series per known reason — so a
// device changing state, or a box sending a reason of its own, never
// creates series; and the session takeovers per identity (takeover.go).
type deviceCollector struct{ h *Hub }

var (
	mHubDevUp         = prometheus.NewDesc("kordon_hub_device_up", "1 when the device is up, by the box's retained availability.", []string{"box", "device"}, nil)
	mHubDevDownReason = prometheus.NewDesc("kordon_hub_device_down_reason", "1 for the reason the device is down (unplugged, timeout, errors, stopped, other); 0 for the others and while it is up.", []string{"box", "device", "reason"}, nil)
	mTakeovers        = prometheus.NewDesc("kordon_hub_session_takeovers_total", "Connections that replaced a still-connected session of the same client id (two boxes sharing an identity make these continually).", []string{"identity"}, nil)
)

var hubDownReasons = []string{string(device.Unplugged), string(device.Timeout), string(device.Errors), string(device.Stopped), "other"}

func (c deviceCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c deviceCollector) Collect(ch chan<- prometheus.Metric) {
	g := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	for _, b := range c.h.ingest.snapshot() {
		var a contract.DeviceAvailability
		if json.Unmarshal(b, &a) != nil || a.Schema != contract.AvailabilityV1 {
			continue
		}
		up := a.State == "up"
		g(mHubDevUp, b2f(up), a.Box, a.Device)
		current := ""
		if !up {
			current = "other"
			for _, r := range hubDownReasons {
				if r == a.Reason {
					current = r
				}
			}
		}
		for _, r := range hubDownReasons {
			g(mHubDevDownReason, b2f(r == current), a.Box, a.Device, r)
		}
	}
	if c.h.takeover != nil {
		ids, n := c.h.takeover.counts()
		for i, id := range ids {
			ch <- prometheus.MustNewConstMetric(mTakeovers, prometheus.CounterValue, float64(n[i]), id)
		}
	}
}
