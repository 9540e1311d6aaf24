package hub

import (
	"database/sql"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// RetentionConfig is how long the hub keeps readings (docs/hubd.md).
// Alerts are kept for ever, and so is every reading behind an alert.
type RetentionConfig struct {
	// Readings is the age (by arrival at the hub) after which a routine
	// reading is removed; default 2160h (90 days).
	Readings Duration `yaml:"readings"`
	// Kinds overrides Readings per kind; 0s keeps that kind for ever.
	// Default: document 8760h (a year).
	Kinds map[string]Duration `yaml:"kinds"`
	// Batch is how many rows one step removes (default 500): small steps
	// hold the database's one writer only briefly, so ingest goes on.
	Batch int `yaml:"batch"`
	// Every is the time between pruning rounds (default 1m).
	Every Duration `yaml:"every"`
}

func (c RetentionConfig) withDefaults() RetentionConfig {
	if c.Readings == 0 {
		c.Readings = Duration(90 * 24 * time.Hour)
	}
	kinds := map[string]Duration{"document": Duration(365 * 24 * time.Hour)}
	for k, v := range c.Kinds {
		kinds[k] = v
	}
	c.Kinds = kinds
	if c.Batch <= 0 {
		c.Batch = 500
	}
	if c.Every == 0 {
		c.Every = Duration(time.Minute)
	}
	return c
}

// pruner removes readings past their age, a small batch at a time.
type pruner struct {
	db    *sql.DB
	cfg   RetentionConfig
	kinds []string // every kind the hub knows (its payload schemas)
	log   *slog.Logger
	now   func() time.Time

	pruned   atomic.Int64
	quit     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

func newPruner(db *sql.DB, cfg RetentionConfig, kinds []string, log *slog.Logger) *pruner {
	sort.Strings(kinds)
	return &pruner{db: db, cfg: cfg.withDefaults(), kinds: kinds, log: log, now: time.Now, quit: make(chan struct{}), done: make(chan struct{})}
}

func (p *pruner) run() {
	defer close(p.done)
	t := time.NewTicker(time.Duration(p.cfg.Every))
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			return
		case <-t.C:
			if _, err := p.round(); err != nil {
				p.log.Warn("retention", "err", err)
			}
		}
	}
}

func (p *pruner) stop() {
	p.stopOnce.Do(func() { close(p.quit) })
}

// round prunes every kind down to its age and returns how many rows went.
func (p *pruner) round() (int64, error) {
	var total int64
	for _, kind := range p.kinds {
		age := p.cfg.Readings
		if a, ok := p.cfg.Kinds[kind]; ok {
			age = a
		}
		if age == 0 {
			continue // kept for ever
		}
		cutoff := stamp(p.now().Add(-time.Duration(age)))
		for {
			select {
			case <-p.quit:
				return total, nil
			default:
			}
			res, err := p.db.Exec(`DELETE FROM readings WHERE id IN (SELECT id FROM readings WHERE kind = ? AND received < ? AND alerted = 0 ORDER BY kind, received LIMIT ?)`,
				kind, cutoff, p.cfg.Batch)
			if err != nil {
				return total, err
			}
			n, _ := res.RowsAffected()
			total += n
			p.pruned.Add(n)
			if n < int64(p.cfg.Batch) {
				break
			}
			// Between steps the writer is free for ingest's next commit.
			time.Sleep(5 * time.Millisecond)
		}
	}
	// Activity counts serve the last day's health; two days are kept.
	if _, err := p.db.Exec(`DELETE FROM activity WHERE hour < ?`, stamp(p.now().Add(-48*time.Hour))); err != nil {
		return total, err
	}
	cutoff := stamp(p.now().Add(-time.Duration(p.cfg.Readings)))
	if _, err := p.db.Exec(`DELETE FROM refused WHERE rowid IN (SELECT rowid FROM refused WHERE received < ? LIMIT ?)`, cutoff, p.cfg.Batch); err != nil {
		return total, err
	}
	return total, nil
}
