package edge

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kordon/kordon/edge/outbox"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/reading"
)

// Publisher tuning (docs/delivery.md).
const (
	// window is how many readings may await the hub's PUBACK at once; one
	// at a time would cap a backlog's drain at one round trip per reading.
	// The hub commits a box's window in one transaction: 64 drained about
	// 5,000 readings/s into it, 256 about 12,500/s (cmd/hubbench), and
	// the window costs the box its readings in paho's memory store only.
	// The hub's limits.max_inflight must be at least this.
	window = 256
	// lateAfter marks a reading historical when it reaches the hub this much
	// after it was taken (the outbox held it through an outage or a backlog).
	lateAfter = 5 * time.Second
	// connectTimeout bounds one connection attempt.
	connectTimeout = 10 * time.Second
)

// pubStats are the publisher's counters (metrics and status).
type pubStats struct {
	published  atomic.Int64 // readings the hub acknowledged
	historical atomic.Int64 // of those, sent marked historical
	connects   atomic.Int64 // sessions established
	failures   atomic.Int64 // connection attempts or publishes that failed
	resends    atomic.Int64 // resend requests from the hub
}

// classify tells routine telemetry from readings that could raise an alert
// (docs/delivery.md): only a reading its family's Driver.Routine calls
// routine, and whose quality is ok, may be dropped when the outbox is full.
func classify(r reading.Reading, routine func(reading.Reading) bool) outbox.Class {
	if routine != nil && r.Quality.Status == reading.OK && routine(r) {
		return outbox.Routine
	}
	return outbox.Protected
}

// publish keeps one MQTT session with the hub at a time and drains the
// outbox through it. Reconnecting is done here rather than by paho: a
// clean session per connection means the outbox alone decides what is
// resent, and unfinished publishes fail at once instead of hanging.
func (b *Box) publish(ctx context.Context) {
	keepAlive, maxWait := b.cfg.Hub.KeepAlive, b.cfg.Hub.MaxReconnectInterval
	if keepAlive <= 0 {
		keepAlive = 20 * time.Second
	}
	if maxWait <= 0 {
		maxWait = 15 * time.Second
	}
	wait := min(100*time.Millisecond, maxWait)
	for ctx.Err() == nil {
		c, lost, err := b.dial(ctx, keepAlive)
		if err == nil {
			wait = min(100*time.Millisecond, maxWait)
			b.session(ctx, c, lost, 2*keepAlive+connectTimeout)
			b.booth.Hub(false)
			b.outbox.Rewind()
			b.mu.Lock()
			b.conn = make(chan struct{})
			b.mu.Unlock()
			if ctx.Err() != nil {
				return
			}
			b.log.Warn("hub session ended; reconnecting", "retry_in", wait)
		} else if ctx.Err() == nil {
			b.pub.failures.Add(1)
			b.log.Warn("hub connect failed", "address", b.cfg.Hub.Address, "err", err, "retry_in", wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, maxWait)
	}
}

// dial connects, announces the box (retained state with its inventory),
// republishes device availability and subscribes to its commands.
func (b *Box) dial(ctx context.Context, keepAlive time.Duration) (mqtt.Client, chan struct{}, error) {
	will, _ := json.Marshal(contract.State{Schema: contract.StateV1, Crossing: b.cfg.Crossing, Box: b.cfg.Box, State: "offline", Time: time.Now().UTC()})
	lost := make(chan struct{})
	var once sync.Once
	opts := mqtt.NewClientOptions().
		AddBroker(b.cfg.Hub.Address).
		SetClientID("kordon-"+b.cfg.Crossing+"-"+b.cfg.Box).
		SetUsername(b.cfg.Hub.Username).
		SetPassword(b.cfg.Hub.Password).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectTimeout(connectTimeout).
		SetKeepAlive(keepAlive).
		SetPingTimeout(keepAlive).
		SetWriteTimeout(connectTimeout).
		SetOrderMatters(false). // command handlers must not block the reader
		SetBinaryWill(contract.BoxState(b.cfg.Crossing, b.cfg.Box), will, 1, true).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			b.log.Warn("hub connection lost", "err", err)
			once.Do(func() { close(lost) })
		})
	if t := b.cfg.Hub.TLS; t != nil {
		tc, err := clientTLS(t)
		if err != nil {
			return nil, nil, err
		}
		opts.SetTLSConfig(tc)
	}
	if u, err := url.Parse(b.cfg.Hub.Address); err == nil && (u.Scheme == "tcp" || u.Scheme == "mqtt") && os.Getenv("all_proxy") == "" {
		opts.SetCustomOpenConnectionFn(dialHub)
	}
	c := mqtt.NewClient(opts)
	if err := waitToken(ctx, c.Connect(), connectTimeout); err != nil {
		return nil, nil, err
	}
	st, _ := json.Marshal(b.state("online"))
	c.Publish(contract.BoxState(b.cfg.Crossing, b.cfg.Box), 1, true, st)
	if err := waitToken(ctx, c.Subscribe(contract.Commands(b.cfg.Crossing, b.cfg.Box), 1, b.onCommand), connectTimeout); err != nil {
		c.Disconnect(0)
		return nil, nil, fmt.Errorf("subscribe commands: %w", err)
	}
	if err := b.subscribeEvidence(ctx, c); err != nil { // evidence.go
		c.Disconnect(0)
		return nil, nil, fmt.Errorf("subscribe evidence requests: %w", err)
	}
	b.mu.Lock()
	b.client = c
	avail := make([]contract.DeviceAvailability, 0, len(b.avail))
	for _, a := range b.avail {
		avail = append(avail, a)
	}
	select {
	case <-b.conn:
	default:
		close(b.conn)
	}
	b.mu.Unlock()
	for _, a := range avail {
		b.publishAvailability(c, a)
	}
	b.pub.connects.Add(1)
	b.booth.Hub(true)
	b.log.Info("connected to hub", "address", b.cfg.Hub.Address)
	return c, lost, nil
}

func waitToken(ctx context.Context, t mqtt.Token, d time.Duration) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return fmt.Errorf("no answer from the hub in %v", d)
	}
}

// clientTLS loads the crossing CA and this box's certificate.
func clientTLS(t *TLSConfig) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return nil, fmt.Errorf("hub.tls: %w", err)
	}
	ca, err := os.ReadFile(t.CA)
	if err != nil {
		return nil, fmt.Errorf("hub.tls.ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("hub.tls.ca: %s holds no PEM certificate", t.CA)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// dialHub opens a plain TCP connection to the hub (hubConn). TLS
// connections buffer their records already, and a proxy (all_proxy) is
// paho's to dial: both are left to paho.
func dialHub(u *url.URL, opts mqtt.ClientOptions) (net.Conn, error) {
	d := opts.Dialer
	if d == nil {
		d = &net.Dialer{Timeout: connectTimeout}
	}
	c, err := d.Dial("tcp", u.Host)
	if err != nil {
		return nil, err
	}
	wt := opts.WriteTimeout
	if wt <= 0 {
		wt = connectTimeout
	}
	return newHubConn(c, wt), nil
}

type inflight struct {
	tok    mqtt.Token
	inc    string
	device string
	seq    uint64
}

// session drains the outbox while the connection lives. Up to window
// readings await their PUBACK; they are acknowledged to the outbox strictly
// in the order sent, and the first one that fails ends the session, so a
// device's acknowledged sequence never skips a reading the hub lacks.
func (b *Box) session(ctx context.Context, c mqtt.Client, lost chan struct{}, ackTimeout time.Duration) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lost:
			cancel()
		case <-sctx.Done():
		}
	}()
	fifo := make(chan inflight, window)
	ackerDone := make(chan struct{})
	go func() {
		defer close(ackerDone)
		defer cancel()
		// One timer for every reading in flight: a backlog drains at tens
		// of thousands a second, a timer each would be garbage.
		timer := time.NewTimer(ackTimeout)
		defer timer.Stop()
		for it := range fifo {
			var err error
			select {
			case <-it.tok.Done():
				err = it.tok.Error()
			default:
				timer.Reset(ackTimeout)
				select {
				case <-it.tok.Done():
					err = it.tok.Error()
				case <-sctx.Done():
					err = context.Canceled
				case <-timer.C:
					err = fmt.Errorf("no PUBACK in %v", ackTimeout)
				}
			}
			if err != nil {
				if sctx.Err() == nil {
					b.pub.failures.Add(1)
					b.log.Warn("publish not acknowledged; resending from the outbox", "device", it.device, "seq", it.seq, "err", err)
				}
				cancel()
				for range fifo {
				}
				return
			}
			b.outbox.Ack(it.inc, it.device, it.seq)
			b.pub.published.Add(1)
		}
	}()
	topics := map[string]string{} // per device: built once, not per reading
	for {
		rec, err := b.outbox.Next(sctx)
		if err != nil {
			break
		}
		topic, ok := topics[rec.Device]
		if !ok {
			topic = contract.Readings(b.cfg.Crossing, b.cfg.Box, rec.Device)
			topics[rec.Device] = topic
		}
		if time.Since(rec.Taken) > lateAfter {
			rec.MarkHistorical()
			b.pub.historical.Add(1)
		}
		tok := c.Publish(topic, 1, false, rec.JSON)
		select {
		case fifo <- inflight{tok: tok, inc: rec.Incarnation, device: rec.Device, seq: rec.Seq}:
			continue
		case <-sctx.Done():
		}
		break
	}
	close(fifo)
	<-ackerDone
	if ctx.Err() == nil && c.IsConnected() {
		c.Disconnect(0) // a failed publish: start a fresh session and resend
	}
}

// disconnect says goodbye with a retained offline state.
func (b *Box) disconnect() {
	b.mu.Lock()
	c := b.client
	b.mu.Unlock()
	if c == nil {
		return
	}
	if c.IsConnected() {
		st, _ := json.Marshal(b.state("offline"))
		c.Publish(contract.BoxState(b.cfg.Crossing, b.cfg.Box), 1, true, st).WaitTimeout(2 * time.Second)
	}
	c.Disconnect(500)
}

// resend answers the hub's "resend" command (args device, from): the
// outbox delivers that device again from that sequence number; ranges it no
// longer holds are listed in the reply so the hub can record them as lost.
func (b *Box) resend(cmd contract.Command, reply *contract.Reply) {
	dev := cmd.Args["device"]
	var from uint64
	if _, err := fmt.Sscan(cmd.Args["from"], &from); err != nil || dev == "" {
		reply.Error = "resend needs args device and from"
		return
	}
	// A resend names the incarnation whose gap it is; without one it is
	// the current incarnation's (a hub that predates incarnations).
	missing, err := b.outbox.Resend(cmd.Args["incarnation"], dev, from)
	if err != nil {
		reply.Error = err.Error()
		return
	}
	b.pub.resends.Add(1)
	reply.OK = true
	reply.Result = map[string]string{"device": dev, "from": fmt.Sprint(from), "last": fmt.Sprint(b.outbox.LastSeq(dev))}
	if len(missing) > 0 {
		var s bytes.Buffer
		for i, m := range missing {
			if i > 0 {
				s.WriteByte(',')
			}
			fmt.Fprintf(&s, "%d-%d", m[0], m[1])
		}
		reply.Result["missing"] = s.String()
	}
}
