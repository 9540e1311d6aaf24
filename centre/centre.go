package centre

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kordon/kordon/blo"
)

// Config is kordon-centre's consumer part.
type Config struct {
	NATS []string `yaml:"nats"` // client URLs of the centre's nodes
	// Cert and Key are kordon-centre's certificate for the nodes (a link
	// certificate naming the centre: kordon-certs link -site centre), CA
	// the centre's own CA, which the nodes' certificates must come from.
	Cert           string   `yaml:"cert"`
	Key            string   `yaml:"key"`
	CA             string   `yaml:"ca"`
	ReaderUser     string   `yaml:"reader_user"`
	ReaderPassword string   `yaml:"reader_password"`
	Crossings      []string `yaml:"crossings"`
	Replicas       int      `yaml:"replicas"` // of each crossing's feed stream, default 3
	DSN            string   `yaml:"postgres"`
	Batch          int      `yaml:"batch"` // messages per database transaction, default 500
	// AckWait is how long a message handed to kordon-centre may stay
	// unacknowledged before it is delivered again (default 30s).
	AckWait time.Duration `yaml:"ack_wait"`
}

// consumerName is kordon-centre's durable consumer on each feed. Its
// acknowledgements are explicit, one per message: with "ack all" a
// message delivered but never received (a pull answered while the
// connection to a node was being lost) was acknowledged by the next
// batch's ack and never reached the database.
const consumerName = "pg"

// oldConsumerName is the durable of earlier versions (ack all); a feed
// that still has it moves on from its acknowledgement floor.
const oldConsumerName = "postgres"

// Centre consumes every crossing's feed into PostgreSQL.
type Centre struct {
	cfg   Config
	db    *DB
	log   *slog.Logger
	feeds map[string]*feed

	wg sync.WaitGroup
}

type feed struct {
	crossing string
	nc       *nats.Conn
	js       jetstream.JetStream
	taken    atomic.Int64
	again    atomic.Int64
	refused  atomic.Int64
	ready    chan struct{} // closed once the feed's stream and consumer exist
	mu       sync.Mutex
	info     *jetstream.StreamInfo
	cinfo    *jetstream.ConsumerInfo
}

// New connects to the database and to each crossing's account.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Centre, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 3
	}
	if cfg.Batch == 0 {
		cfg.Batch = 500
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = 30 * time.Second
	}
	db, err := OpenDB(ctx, cfg.DSN)
	if err != nil {
		return nil, err
	}
	c := &Centre{cfg: cfg, db: db, log: log.With("part", "centre"), feeds: map[string]*feed{}}
	var secure []nats.Option
	if cfg.Cert != "" || cfg.CA != "" {
		tc, err := blo.CentreClientTLS(cfg.Cert, cfg.Key, cfg.CA)
		if err != nil {
			c.Close()
			return nil, err
		}
		secure = append(secure, nats.Secure(tc))
	}
	for _, x := range cfg.Crossings {
		if err := blo.ValidSite(x); err != nil {
			c.Close()
			return nil, err
		}
		nc, err := nats.Connect(strings.Join(cfg.NATS, ","), append([]nats.Option{nats.UserInfo(blo.ReaderName(cfg.ReaderUser, x), cfg.ReaderPassword),
			nats.Name("kordon-centre " + x), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond), nats.RetryOnFailedConnect(true)}, secure...)...)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("crossing %s: %w", x, err)
		}
		js, _ := jetstream.New(nc)
		c.feeds[x] = &feed{crossing: x, nc: nc, js: js, ready: make(chan struct{})}
	}
	return c, nil
}

// DB is the centre's database.
func (c *Centre) DB() *DB { return c.db }

// Run consumes until ctx ends.
func (c *Centre) Run(ctx context.Context) {
	for _, f := range c.feeds {
		c.wg.Add(2)
		go func() { defer c.wg.Done(); c.consume(ctx, f) }()
		go func() { defer c.wg.Done(); c.watch(ctx, f) }()
	}
}

// Wait waits for Run's goroutines after ctx ended.
func (c *Centre) Wait() { c.wg.Wait() }

// Close closes the connections and the database.
func (c *Centre) Close() {
	for _, f := range c.feeds {
		f.nc.Close()
	}
	c.db.Close()
}

// consume moves one crossing's feed into the database: a batch is
// committed, then each of its messages acknowledged, so a crash in between
// redelivers them and the message ids make the second time change nothing.
// A message the server delivered that never arrived here is never
// acknowledged, so it comes again after AckWait.
func (c *Centre) consume(ctx context.Context, f *feed) {
	var cons jetstream.Consumer
	c.awaitCrossing(ctx, f)
	for ctx.Err() == nil {
		s, err := blo.EnsureFeed(ctx, f.js, f.crossing, c.cfg.Replicas)
		if err == nil {
			cons, err = c.ensureConsumer(ctx, s)
		}
		if err == nil {
			break
		}
		c.log.Warn("feed not ready", "crossing", f.crossing, "err", err)
		sleep(ctx, time.Second)
	}
	close(f.ready)
	for ctx.Err() == nil {
		got, err := c.next(cons)
		if err != nil {
			sleep(ctx, 250*time.Millisecond)
			continue
		}
		if len(got) == 0 {
			continue
		}
		msgs := make([]Msg, len(got))
		for i, m := range got {
			msgs[i] = Msg{ID: m.Headers().Get(jetstream.MsgIDHeader), Subject: m.Subject(), Data: m.Data()}
		}
		for ctx.Err() == nil {
			added, again, refused, err := c.db.Take(ctx, f.crossing, msgs)
			if err == nil {
				f.taken.Add(int64(added))
				f.again.Add(int64(again))
				f.refused.Add(int64(refused))
				if refused > 0 {
					c.log.Warn("messages refused", "crossing", f.crossing, "count", refused)
				}
				break
			}
			c.log.Warn("database; batch retried", "crossing", f.crossing, "err", err)
			sleep(ctx, time.Second)
		}
		if ctx.Err() == nil {
			// A lost ack only brings the message again, which changes nothing.
			for _, m := range got {
				if err := m.Ack(); err != nil {
					c.log.Warn("ack; the message will come again and change nothing", "crossing", f.crossing, "err", err)
					break
				}
			}
		}
	}
}

// next waits up to a second for a message, then takes, without waiting,
// up to a batch of what else is there. A pull for a whole batch would
// return only once the batch is full or its wait is over: a quiet crossing's
// alarm would wait the full second before it is stored.
func (c *Centre) next(cons jetstream.Consumer) ([]jetstream.Msg, error) {
	var got []jetstream.Msg
	first, err := cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		return nil, err
	}
	for m := range first.Messages() {
		got = append(got, m)
	}
	if len(got) == 0 || c.cfg.Batch == 1 {
		return got, nil
	}
	rest, err := cons.FetchNoWait(c.cfg.Batch - 1)
	if err != nil {
		return got, nil // the first is taken; the rest come with the next pull
	}
	for m := range rest.Messages() {
		got = append(got, m)
	}
	return got, nil
}

// awaitCrossing waits, for a while, until the crossing's JetStream answers
// through its link. A new FEED's source asks the hub for its consumer as
// soon as the FEED is created, and an ask that finds no link waits 5 s for
// its answer before the next: at a fresh centre, whose links come up in
// the first second or two, that was most of the first alert's time.
// A crossing that does not answer in time gets its FEED anyway.
func (c *Centre) awaitCrossing(ctx context.Context, f *feed) {
	peer, err := jetstream.NewWithDomain(f.nc, f.crossing)
	if err != nil {
		return
	}
	deadline := time.Now().Add(awaitLink)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err := peer.AccountInfo(pctx)
		cancel()
		if err == nil {
			return
		}
		sleep(ctx, 100*time.Millisecond)
	}
}

// awaitLink is how long a new FEED waits for its crossing's link.
const awaitLink = 10 * time.Second

// ensureConsumer creates (or updates) kordon-centre's durable on a feed.
// A feed still holding the durable of an earlier version gets the new one
// starting after what that one had acknowledged, then loses the old one.
func (c *Centre) ensureConsumer(ctx context.Context, s jetstream.Stream) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{Durable: consumerName, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: c.cfg.AckWait, MaxAckPending: 10 * c.cfg.Batch, MaxDeliver: -1}
	old, err := s.Consumer(ctx, oldConsumerName)
	hadOld := err == nil
	if hadOld {
		oi, err := old.Info(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := s.Consumer(ctx, consumerName); errors.Is(err, jetstream.ErrConsumerNotFound) && oi.AckFloor.Stream > 0 {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, oi.AckFloor.Stream+1
		}
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, err
	}
	cons, err := s.Consumer(ctx, consumerName)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = s.CreateConsumer(ctx, cfg)
	} else if err == nil {
		// An existing durable keeps its start; only what may change is updated.
		ci := cons.CachedInfo().Config
		cfg.DeliverPolicy, cfg.OptStartSeq = ci.DeliverPolicy, ci.OptStartSeq
		cons, err = s.UpdateConsumer(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	if hadOld {
		if err := s.DeleteConsumer(ctx, oldConsumerName); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			c.log.Warn("old consumer not removed", "err", err)
		}
	}
	return cons, nil
}

// watch keeps the feed's stream and consumer info for the dashboard and
// the lag figures.
// It starts once the feed exists and looks every few seconds, spread
// over the interval, so hundreds of crossings do not load the JetStream
// API while streams are being created.
func (c *Centre) watch(ctx context.Context, f *feed) {
	select {
	case <-ctx.Done():
		return
	case <-f.ready:
	}
	sleep(ctx, time.Duration(rand.Int64N(int64(watchEvery))))
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		c.refresh(ctx, f)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *Centre) refresh(ctx context.Context, f *feed) {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s, err := f.js.Stream(cctx, blo.FeedStream)
	if err != nil {
		return
	}
	info, err := s.Info(cctx)
	if err != nil {
		return
	}
	var ci *jetstream.ConsumerInfo
	if cons, err := s.Consumer(cctx, consumerName); err == nil {
		ci, _ = cons.Info(cctx)
	}
	f.mu.Lock()
	f.info, f.cinfo = info, ci
	f.mu.Unlock()
}

// Stats reports every crossing, sorted by id.
func (c *Centre) Stats() []Stats {
	var out []Stats
	for _, f := range c.feeds {
		s := Stats{Crossing: f.crossing, Taken: f.taken.Load(), Again: f.again.Load(), Refused: f.refused.Load()}
		f.mu.Lock()
		if f.info != nil && len(f.info.Sources) > 0 {
			src := f.info.Sources[0]
			s.HubLag = src.Lag
			s.LinkUp = src.Active >= 0 && src.Active < 15*time.Second && src.Error == nil
			s.Active = time.Now().Add(-src.Active)
		}
		if f.cinfo != nil {
			s.Pending = f.cinfo.NumPending + uint64(f.cinfo.NumAckPending)
		}
		f.mu.Unlock()
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Crossing < out[j].Crossing })
	return out
}

// Refresh updates every feed's figures now (tests, the benchmark).
func (c *Centre) Refresh(ctx context.Context) {
	for _, f := range c.feeds {
		c.refresh(ctx, f)
	}
}

const watchEvery = 5 * time.Second

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
