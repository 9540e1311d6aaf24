package edge

import (
	"time"

	"github.com/kordon/kordon/internal/device"
)

// downReasons is the bounded set the down_reason label takes: a device
// changing state changes values, never creates series.
var downReasons = []string{string(device.Unplugged), string(device.Timeout), string(device.Errors), string(device.Stopped), "other"}

func boundedReason(r string) string {
	for _, k := range downReasons {
		if r == k {
			return r
		}
	}
	return "other"
}

// writeDeviceMetrics reports each configured device's availability — up,
// and one down_reason series per known reason, 1 for the current one — and
// when its last reading was taken.
func (b *Box) writeDeviceMetrics(p *promText, st Status) {
	const (
		up       = "kordon_edge_device_up"
		upHelp   = "1 when the device is up."
		down     = "kordon_edge_device_down_reason"
		downHelp = "1 for the reason the device is down (unplugged, timeout, errors, stopped, other); 0 for the others and while it is up."
		last     = "kordon_edge_device_last_reading_timestamp_seconds"
		lastHelp = "When the device's last reading was taken (its first byte), Unix time; absent before the first."
	)
	current := map[string]string{}
	for _, d := range b.devices {
		a, known := st.Availability[d.ID]
		isUp := known && a.State == "up"
		p.sample(up, "gauge", upHelp, b2f(isUp), "device", d.ID)
		if known && !isUp {
			current[d.ID] = boundedReason(a.Reason)
		}
	}
	for _, d := range b.devices {
		for _, r := range downReasons {
			p.sample(down, "gauge", downHelp, b2f(current[d.ID] == r), "device", d.ID, "reason", r)
		}
	}
	for _, d := range b.devices {
		if t, ok := b.lastReading.Load(d.ID); ok {
			p.sample(last, "gauge", lastHelp, float64(t.(time.Time).UnixNano())/1e9, "device", d.ID)
		}
	}
}
