package hub

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers"
	"github.com/kordon/kordon/drivers/passport/mrz"
	"github.com/kordon/kordon/hub/personal"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/schema"
)

// Benchmarks of the hub's one parse of a reading (parser.reading), for the
// readings cmd/hubbench sends, beside two peers: the full parse (a generic
// decode, then the JSON Schema walk over it: what every reading took before
// the fast path) and json.Unmarshal of the same bytes into a map[string]any,
// the least any generic decode costs. BenchmarkReadingRatio runs the three
// interleaved and prints the ratios.

const benchBox, benchInc = "box-001", "0123abcd0123abcd"

type benchReading struct {
	name, device string
	msg          []byte
}

// benchReadings renders the envelopes cmd/hubbench's routine and mixed
// sets send (one of each template).
func benchReadings(tb testing.TB) []benchReading {
	now := time.Date(2026, 11, 1, 9, 0, 0, 123456789, time.UTC)
	mk := func(name, device, driver string, p reading.Payload) benchReading {
		r := reading.Reading{Crossing: testCrossing, Box: benchBox, Device: device, Driver: driver, Incarnation: benchInc,
			Seq: 4711, Origin: now, Clock: reading.ClockSynced, Quality: reading.Quality{Status: reading.OK}, Payload: p}
		js, err := json.Marshal(r)
		if err != nil {
			tb.Fatal(err)
		}
		return benchReading{name: name, device: device, msg: js}
	}
	doc := func(row2 string) reading.Payload {
		d, err := mrz.Parse([]string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", row2}, now)
		if err != nil {
			tb.Fatal(err)
		}
		return d
	}
	return []benchReading{
		mk("routine", "thermo1", "calex", reading.Received{KindName: "temperature", JSON: json.RawMessage(
			`{"sensor":"lane-1","model":"calex-pyrousb","celsius":36.5,"measured_celsius":36.5,"housing_celsius":25,"emissivity":0.98,"fever":false,"fever_threshold":37.5,"events":[],"cause":"change"}`)}),
		mk("document", "reader1", "mrz", doc("L898902C36UTO7408122F1204159ZE184226B<<<<<10")),
		mk("document_failing", "reader1", "mrz", doc("L898902C37UTO7408122F1204159ZE184226B<<<<<10")),
		mk("trace_alarm", "trace1", "tracedetector", reading.Received{KindName: "trace_sample", JSON: json.RawMessage(
			`{"record":"sample","result":"ALARM","alarm":true,"substances":["TNT","RDX"],"substance_list":"TNT, RDX","confidence":0.93,"sample":"S0050","device_time":"2026-11-01T09:06:00Z"}`)}),
		mk("trace_clear", "trace1", "tracedetector", reading.Received{KindName: "trace_sample", JSON: json.RawMessage(
			`{"record":"sample","result":"CLEAR","alarm":false,"substances":[],"confidence":0.99,"sample":"S0051","device_time":"2026-11-01T09:07:00Z"}`)}),
	}
}

func benchParser(tb testing.TB) *parser {
	schemas := drivers.PayloadSchemas()
	val, err := schema.New(schemas)
	if err != nil {
		tb.Fatal(err)
	}
	pf, err := personal.FromSchemas(schemas)
	if err != nil {
		tb.Fatal(err)
	}
	return &parser{crossing: testCrossing, validator: val, personal: pf, maxPayload: 256 << 10}
}

func benchParse(b *testing.B, p *parser, r benchReading) {
	b.SetBytes(int64(len(r.msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, rf := p.reading(benchBox, r.device, r.msg); rf != nil {
			b.Fatalf("refused: %s: %v", rf.reason, rf.err)
		}
	}
}

func benchFull(b *testing.B, p *parser, r benchReading) {
	b.SetBytes(int64(len(r.msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, rf := p.full(benchBox, r.device, r.msg); rf != nil {
			b.Fatalf("refused: %s: %v", rf.reason, rf.err)
		}
	}
}

func benchPeer(b *testing.B, r benchReading) {
	b.SetBytes(int64(len(r.msg)))
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(r.msg, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReading is each reading through the hub's parse and through
// the peer, as separate sub-benchmarks (for -benchmem).
func BenchmarkReading(b *testing.B) {
	p := benchParser(b)
	for _, r := range benchReadings(b) {
		b.Run(r.name+"/hub", func(b *testing.B) { benchParse(b, p, r) })
		b.Run(r.name+"/full", func(b *testing.B) { benchFull(b, p, r) })
		b.Run(r.name+"/unmarshal", func(b *testing.B) { benchPeer(b, r) })
	}
}

// BenchmarkReadingRatio runs the hub's parse and the peers in turn on the
// same reading, so all see the same machine load, and reports the ratios.
func BenchmarkReadingRatio(b *testing.B) {
	p := benchParser(b)
	for _, r := range benchReadings(b) {
		b.Run(r.name, func(b *testing.B) {
			var hub, full, peer time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, rf := p.reading(benchBox, r.device, r.msg); rf != nil {
					b.Fatalf("refused: %s: %v", rf.reason, rf.err)
				}
				t1 := time.Now()
				if _, rf := p.full(benchBox, r.device, r.msg); rf != nil {
					b.Fatalf("refused: %s: %v", rf.reason, rf.err)
				}
				t2 := time.Now()
				var m map[string]any
				if err := json.Unmarshal(r.msg, &m); err != nil {
					b.Fatal(err)
				}
				hub, full, peer = hub+t1.Sub(t0), full+t2.Sub(t1), peer+time.Since(t2)
			}
			n := float64(b.N)
			b.ReportMetric(float64(hub.Nanoseconds())/n, "hub-ns/op")
			b.ReportMetric(float64(full.Nanoseconds())/n, "full-ns/op")
			b.ReportMetric(float64(peer.Nanoseconds())/n, "unmarshal-ns/op")
			b.ReportMetric(float64(hub)/float64(full), "hub/full")
			b.ReportMetric(float64(hub)/float64(peer), "hub/unmarshal")
		})
	}
}
