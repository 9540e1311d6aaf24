package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/kordon/kordon/hub/events"
	"github.com/kordon/kordon/internal/contract"
)

// BenchmarkAlertPublisher is the publisher's work per alert after a commit
// (the queue, the audit line, the JSON and the publish, here to nobody):
// "encode" makes the alert's JSON as it did before the store's was passed
// on, "stored" sends the store's. The log writes text lines to nowhere,
// as hubd's handler would to its output. Compare the two in one run.
func BenchmarkAlertPublisher(b *testing.B) {
	a := contract.Alert{Schema: contract.AlertV1, ID: "3f2a9c0d4b5e6f708192a3b4c5d6e7f8", Crossing: testCrossing,
		Box: "box-001", Device: "reader1", Rule: "mrz-check-digit", Severity: "high",
		Summary: "Document check digit wrong: the MRZ does not verify", Time: time.Now().UTC(), Raised: time.Now().UTC(),
		Readings: []contract.ReadingRef{{Box: "box-001", Device: "reader1", Incarnation: "0123456789abcdef", Seq: 42}}, State: "open"}
	js, _ := json.Marshal(a)
	for _, stored := range []bool{false, true} {
		name := map[bool]string{false: "encode", true: "stored"}[stored]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			done := make(chan struct{}, 1)
			n := 0
			p := newAlertPublisher(func([]byte) error {
				if n++; n == b.N {
					done <- struct{}{}
				}
				return nil
			}, 1024, slog.New(slog.NewTextHandler(io.Discard, nil)))
			go p.run()
			defer p.stop()
			batch := &events.Batch{Alerts: make([]contract.Alert, 256)}
			for i := range batch.Alerts {
				batch.Alerts[i] = a
			}
			if stored {
				batch.AlertJSON = make([][]byte, len(batch.Alerts))
				for i := range batch.AlertJSON {
					batch.AlertJSON[i] = js
				}
			}
			cpu0 := cpuTime(b)
			b.ResetTimer()
			for left := b.N; left > 0; left -= len(batch.Alerts) {
				part := *batch
				part.Alerts = part.Alerts[:min(left, len(part.Alerts))]
				for len(p.q) > cap(p.q)-len(part.Alerts) {
					time.Sleep(10 * time.Microsecond) // the queue full would count alerts unpublished
				}
				p.Committed(&part)
			}
			<-done
			b.StopTimer()
			b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			if u := p.unpublished.Load(); u != 0 {
				b.Fatalf("%d unpublished", u)
			}
		})
	}
}

// BenchmarkAuditLine is the publisher's audit line per alert, written as
// Info did it (each string boxed into an interface) and with LogAttrs.
func BenchmarkAuditLine(b *testing.B) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := contract.Alert{ID: "3f2a9c0d4b5e6f708192a3b4c5d6e7f8", Rule: "mrz-check-digit", Severity: "high", Box: "box-001", Device: "reader1"}
	b.Run("Info", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			log.Info("alert", "id", a.ID, "rule", a.Rule, "severity", a.Severity, "box", a.Box, "device", a.Device)
		}
	})
	b.Run("LogAttrs", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			log.LogAttrs(context.Background(), slog.LevelInfo, "alert",
				slog.String("id", a.ID), slog.String("rule", a.Rule), slog.String("severity", a.Severity),
				slog.String("box", a.Box), slog.String("device", a.Device))
		}
	})
}

// BenchmarkRelayCheck is the relay's test of whether anyone subscribes to
// a stored reading's topic, on a broker with 200 boxes' command
// subscriptions and an alert topic subscriber, none on readings: "index"
// asks mochi's index each time, as the relay did, "kept" is relayTopics.
func BenchmarkRelayCheck(b *testing.B) {
	broker := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := broker.AddHook(new(auth.AllowHook), nil); err != nil {
		b.Fatal(err)
	}
	index := func(topic string) bool {
		s := broker.Topics.Subscribers(topic)
		return len(s.Subscriptions)+len(s.Shared)+len(s.InlineSubscriptions) > 0
	}
	kept := newRelayTopics(index)
	if err := broker.AddHook(kept, nil); err != nil {
		b.Fatal(err)
	}
	nop := func(*mqtt.Client, packets.Subscription, packets.Packet) {}
	topics := make([]string, 0, 600)
	for i := range 200 {
		box := fmt.Sprintf("box-%03d", i+1)
		if err := broker.Subscribe(contract.Commands(testCrossing, box), i+1, nop); err != nil {
			b.Fatal(err)
		}
		for _, d := range []string{"thermo1", "reader1", "trace1"} {
			topics = append(topics, contract.Readings(testCrossing, box, d))
		}
	}
	if err := broker.Subscribe(contract.Alerts(testCrossing), 1000, nop); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		any  func(string) bool
	}{{"index", index}, {"kept", kept.any}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if c.any(topics[i%len(topics)]) {
					b.Fatal("a subscriber on a reading topic")
				}
				i++
			}
		})
	}
}
