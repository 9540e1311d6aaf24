package rig

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"
	_ "modernc.org/sqlite" // reads the hub's store after the run

	"github.com/kordon/kordon/hub"
	"github.com/kordon/kordon/hub/dash"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/reading"
)

// sink is where the rig's box publishes: a real hub when the rig expects
// alerts, otherwise a plain MQTT broker (mochi, the hub's own broker
// library) that keeps every reading as published.
type sink struct {
	addr, password string
	changed        chan struct{}

	hub       *hub.Hub
	hubDir    string
	sseCancel context.CancelFunc
	broker    *mqtt.Server

	mu       sync.Mutex
	counts   map[string]int64 // readings per device
	readings map[string][]reading.Reading
	alerts   []contract.Alert
	closed   bool
}

func startSink(r *Rig, work string, changed chan struct{}, log *slog.Logger) (*sink, error) {
	s := &sink{changed: changed, counts: map[string]int64{}, readings: map[string][]reading.Reading{}, password: "rig-" + r.Box}
	if r.Alerts != nil {
		return s, s.startHub(r, work, log)
	}
	return s, s.startBroker(r, log)
}

func (s *sink) kind() string {
	if s.hub != nil {
		return "hub"
	}
	return "broker"
}

func (s *sink) poke() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *sink) startHub(r *Rig, work string, log *slog.Logger) error {
	// MinCost: the password only guards a loopback hub for one run.
	hash, err := bcrypt.GenerateFromPassword([]byte(s.password), bcrypt.MinCost)
	if err != nil {
		return err
	}
	s.hubDir = filepath.Join(work, "hub")
	cfg := &hub.Config{
		Crossing: r.Crossing, MQTT: "127.0.0.1:0", HTTP: "127.0.0.1:0", DataDir: s.hubDir, Rules: r.Rules,
		Boxes: []hub.BoxCreds{{Box: r.Box, PasswordHash: string(hash)}},
		// The event stream needs a dashboard user; the rig is its own.
		Users: []dash.User{{User: "rig", Role: dash.RoleTechnician, PasswordHash: string(hash)}},
	}
	h, err := hub.New(cfg, log.With("part", "hub"))
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if err := h.Start(); err != nil {
		h.Close()
		return fmt.Errorf("hub: %w", err)
	}
	s.hub, s.addr = h, h.MQTTAddr()
	// The live event stream tells when each reading is stored and each
	// alert published; subscribed before the box starts, so nothing is missed.
	ctx, cancel := context.WithCancel(context.Background())
	s.sseCancel = cancel
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+h.HTTPAddr()+"/events", nil)
	req.SetBasicAuth("rig", s.password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return fmt.Errorf("hub events: %w", err)
	}
	go s.readEvents(resp)
	return nil
}

func (s *sink) readEvents(resp *http.Response) {
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var name string
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.HasPrefix(line, []byte("event: ")):
			name = string(line[7:])
		case bytes.HasPrefix(line, []byte("data: ")):
			data := line[6:]
			switch name {
			case "reading":
				var r struct {
					Device string `json:"device"`
				}
				if json.Unmarshal(data, &r) == nil {
					s.mu.Lock()
					s.counts[r.Device]++
					s.mu.Unlock()
					s.poke()
				}
			case "alert":
				var a contract.Alert
				if json.Unmarshal(data, &a) == nil {
					s.mu.Lock()
					s.alerts = append(s.alerts, a)
					s.mu.Unlock()
					s.poke()
				}
			}
		}
	}
}

func (s *sink) startBroker(r *Rig, log *slog.Logger) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.addr = ln.Addr().String()
	ln.Close() // mochi opens its own listener on the address proved free
	b := mqtt.New(&mqtt.Options{InlineClient: true, Logger: log.With("part", "broker")})
	if err := b.AddHook(new(auth.AllowHook), nil); err != nil {
		return err
	}
	if err := b.AddListener(listeners.NewTCP(listeners.Config{ID: "rig", Address: s.addr})); err != nil {
		return err
	}
	if err := b.Serve(); err != nil {
		return err
	}
	s.broker = b
	return b.Subscribe(contract.AllReadings(r.Crossing), 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		var rd reading.Reading
		if err := json.Unmarshal(pk.Payload, &rd); err != nil {
			rd = reading.Reading{Device: topicDevice(pk.TopicName), Payload: reading.Received{KindName: "(unparseable envelope)"}}
		}
		s.mu.Lock()
		s.counts[rd.Device]++
		s.readings[rd.Device] = append(s.readings[rd.Device], rd)
		s.mu.Unlock()
		s.poke()
	})
}

func topicDevice(topic string) string {
	p, _ := contract.Parse(topic)
	return p.Device
}

func (s *sink) count(dev string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[dev]
}

// alertsSettled: every alert the hub stored has come out on its stream.
func (s *sink) alertsSettled() bool {
	if s.hub == nil {
		return true
	}
	s.mu.Lock()
	n := int64(len(s.alerts))
	s.mu.Unlock()
	return n >= s.hub.Counters().Alerts
}

func (s *sink) close() {
	s.mu.Lock()
	was := s.closed
	s.closed = true
	s.mu.Unlock()
	if was {
		return
	}
	if s.sseCancel != nil {
		s.sseCancel()
	}
	if s.hub != nil {
		s.hub.Close()
	}
	if s.broker != nil {
		s.broker.Close()
	}
}

// collect stops the sink and returns what reached it. With a hub, readings
// are read back from its SQLite store: what the rig checks is what the hub
// keeps, personal fields and all.
func (s *sink) collect(r *Rig) (*Result, error) {
	var hubCounters *hub.Counters
	if s.hub != nil {
		c := s.hub.Counters()
		hubCounters = &c
	}
	s.close()
	res := &Result{Readings: map[string][]reading.Reading{}, HubCounters: hubCounters}
	s.mu.Lock()
	res.Alerts = append([]contract.Alert(nil), s.alerts...)
	for k, v := range s.readings {
		res.Readings[k] = append([]reading.Reading(nil), v...)
	}
	s.mu.Unlock()
	if s.hub != nil {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(s.hubDir, "hub.db")+"?mode=ro&_pragma=busy_timeout(10000)") // the hub may be committing
		if err != nil {
			return nil, err
		}
		defer db.Close()
		rows, err := db.Query(`SELECT body FROM readings WHERE box = ? ORDER BY device, seq`, r.Box)
		if err != nil {
			return nil, fmt.Errorf("hub store: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var body string
			if err := rows.Scan(&body); err != nil {
				return nil, err
			}
			var rd reading.Reading
			if err := json.Unmarshal([]byte(body), &rd); err != nil {
				return nil, fmt.Errorf("hub store: %w", err)
			}
			res.Readings[rd.Device] = append(res.Readings[rd.Device], rd)
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	for _, rs := range res.Readings {
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].Seq < rs[j].Seq })
	}
	sortAlerts(res.Alerts)
	return res, nil
}
