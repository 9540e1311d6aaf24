package edge

import (
	"bufio"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// metricsHandler serves this box's metrics in the Prometheus text format
// (version 0.0.4). It reads the counters the box already keeps at scrape
// time, so the hot path pays nothing for metrics.
//
// Written by hand rather than with client_golang: that library brings
// protobuf, zstd and procfs into edged, about 1.5 MiB of code resident in
// a process whose whole budget on the box is 20 MiB, to print a few dozen
// lines of a plain text format.
func (b *Box) metricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		bw := bufio.NewWriter(w)
		p := &promText{w: bw}
		b.writeMetrics(p)
		writeRuntimeMetrics(p, "edged") // metrics_runtime.go
		bw.Flush()
	})
}

// promText writes metric families; each family's samples are written together.
type promText struct {
	w    *bufio.Writer
	last string
}

// sample writes one sample; labels are name, value pairs.
func (p *promText) sample(name, typ, help string, v float64, labels ...string) {
	if name != p.last {
		p.w.WriteString("# HELP " + name + " " + help + "\n# TYPE " + name + " " + typ + "\n")
		p.last = name
	}
	p.w.WriteString(name)
	if len(labels) > 0 {
		p.w.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				p.w.WriteByte(',')
			}
			p.w.WriteString(labels[i] + `="` + labelEscaper.Replace(labels[i+1]) + `"`)
		}
		p.w.WriteByte('}')
	}
	p.w.WriteString(" " + strconv.FormatFloat(v, 'g', -1, 64) + "\n")
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func (b *Box) writeMetrics(p *promText) {
	st := b.Status()
	g := func(name, help string, v float64, l ...string) { p.sample(name, "gauge", help, v, l...) }
	n := func(name, help string, v float64, l ...string) { p.sample(name, "counter", help, v, l...) }
	if o := st.Outbox; o != nil {
		g("kordon_edge_outbox_records", "Readings in the outbox not yet acknowledged by the hub.", float64(o.Records))
		g("kordon_edge_outbox_bytes", "Bytes of readings not yet acknowledged by the hub.", float64(o.Bytes))
		g("kordon_edge_outbox_disk_bytes", "Bytes the outbox occupies on disk.", float64(o.DiskBytes))
		g("kordon_edge_outbox_full", "1 when the last append hit the outbox bound.", b2f(o.Full))
		g("kordon_edge_outbox_disk_full", "1 when the last new segment found no space on the filesystem.", b2f(o.DiskFull))
		g("kordon_edge_incarnation_info", "The incarnation the box's readings carry, and why it began (new, state_missing, state_corrupt, segment_corrupt, segment_missing).", 1, "incarnation", o.Incarnation, "reason", o.IncarnationReason)
		n("kordon_edge_incarnations_total", "Incarnations begun because the sequence state could not be proven intact.", float64(o.Incarnations))
		n("kordon_edge_outbox_syncs_total", "fdatasync calls of the outbox.", float64(o.Syncs))
		n("kordon_edge_outbox_written_bytes_total", "Record bytes written to the outbox.", float64(o.AppendBytes))
		n("kordon_edge_readings_taken_total", "Readings taken into the outbox since start.", float64(o.Appended))
		const drops = "kordon_edge_readings_dropped_total"
		const dropsHelp = "Readings the box could not keep, by reason (full, refused_full, disk_full, write_error, corrupt, unreadable, invalid)."
		n(drops, dropsHelp, float64(o.Refused), "reason", "refused_full")
		for _, reason := range sortedKeys(o.Dropped) {
			n(drops, dropsHelp, float64(o.Dropped[reason]), "reason", reason)
		}
	}
	n("kordon_edge_readings_published_total", "Readings acknowledged by the hub since start.", float64(b.pub.published.Load()))
	n("kordon_edge_readings_historical_total", "Readings sent late, marked historical.", float64(b.pub.historical.Load()))
	n("kordon_edge_hub_connects_total", "MQTT sessions established with the hub.", float64(b.pub.connects.Load()))
	n("kordon_edge_hub_failures_total", "Failed hub connection attempts and unacknowledged publishes.", float64(b.pub.failures.Load()))
	n("kordon_edge_resend_requests_total", "Resend requests received from the hub.", float64(b.pub.resends.Load()))
	g("kordon_edge_hub_connected", "1 while connected to the hub.", b2f(st.Connected))
	b.writeDeviceMetrics(p, st) // metrics_devices.go
	for _, dev := range sortedKeys(st.Counters) {
		for _, what := range sortedKeys(st.Counters[dev]) {
			n("kordon_edge_device_events_total", "Per-device counters (discarded input, lost readings), by name.", float64(st.Counters[dev][what]), "device", dev, "what", what)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

func b2f(v bool) float64 {
	if v {
		return 1
	}
	return 0
}
