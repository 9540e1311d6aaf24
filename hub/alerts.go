package hub

import (
	"encoding/json"
	"log/slog"
	"sync"

	"github.com/kordon/kordon/hub/events"
)

// alertPublisher sends committed alerts on the crossing's alert topic, off
// the commit path. The alerts are in the store already: a full queue costs
// a live MQTT notice, never the alert.
type alertPublisher struct {
	publish  func(js []byte) error
	log      *slog.Logger
	q        chan []byte
	quit     chan struct{}
	stopOnce sync.Once
}

func newAlertPublisher(publish func([]byte) error, log *slog.Logger) *alertPublisher {
	return &alertPublisher{publish: publish, log: log, q: make(chan []byte, 1024), quit: make(chan struct{})}
}

func (p *alertPublisher) Committed(b *events.Batch) {
	for _, a := range b.Alerts {
		p.log.Info("alert", "id", a.ID, "rule", a.Rule, "severity", a.Severity, "box", a.Box, "device", a.Device)
		js, _ := json.Marshal(a)
		select {
		case p.q <- js:
		default:
			p.log.Warn("alert publish queue full; alert is stored", "id", a.ID)
		}
	}
}

func (p *alertPublisher) run() {
	for {
		select {
		case <-p.quit:
			return
		case js := <-p.q:
			if err := p.publish(js); err != nil {
				p.log.Warn("alert publish", "err", err)
			}
		}
	}
}

func (p *alertPublisher) stop() { p.stopOnce.Do(func() { close(p.quit) }) }
