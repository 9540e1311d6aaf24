// Package centre is kordon-centre, the national coordination centre: it
// consumes every crossing's feed from the centre's NATS cluster into
// PostgreSQL, once per message id, and serves the centre dashboard, the i2
// export and the weekly report (docs/blo-network.md, docs/centre-i2-export.md).
package centre

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kordon/kordon/blo"
)

const schemaSQL = `
-- Every message taken from a crossing's feed, by its id: a message seen
-- again (a redelivery, a hub resending after a crash) changes nothing.
CREATE TABLE IF NOT EXISTS messages (
	msg_id   TEXT PRIMARY KEY,
	crossing TEXT NOT NULL,
	kind     TEXT NOT NULL,
	taken    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS alerts (
	id       TEXT PRIMARY KEY, -- crossing-qualified
	crossing TEXT NOT NULL,
	box      TEXT NOT NULL,
	device   TEXT NOT NULL,
	rule     TEXT NOT NULL,
	severity TEXT NOT NULL,
	summary  TEXT NOT NULL,
	state    TEXT NOT NULL,
	origin   TIMESTAMPTZ NOT NULL,
	raised   TIMESTAMPTZ NOT NULL,
	taken    TIMESTAMPTZ NOT NULL DEFAULT now(),
	body     JSONB NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_raised ON alerts(raised);
CREATE INDEX IF NOT EXISTS alerts_crossing ON alerts(crossing, raised);
CREATE TABLE IF NOT EXISTS subjects (
	alert_id TEXT NOT NULL,
	type     TEXT NOT NULL,
	value    TEXT NOT NULL,
	PRIMARY KEY (alert_id, type, value)
);
CREATE INDEX IF NOT EXISTS subjects_value ON subjects(type, value);
CREATE TABLE IF NOT EXISTS transitions (
	crossing TEXT NOT NULL,
	seq      BIGINT NOT NULL,
	alert_id TEXT NOT NULL,
	action   TEXT NOT NULL,
	actor    TEXT NOT NULL,
	role     TEXT NOT NULL,
	note     TEXT NOT NULL,
	at       TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (crossing, seq)
);
CREATE TABLE IF NOT EXISTS health (
	crossing TEXT NOT NULL,
	box      TEXT NOT NULL,
	device   TEXT NOT NULL,
	state    TEXT NOT NULL,
	at       TIMESTAMPTZ NOT NULL,
	body     JSONB NOT NULL,
	PRIMARY KEY (crossing, box, device)
);
CREATE TABLE IF NOT EXISTS counts (
	crossing TEXT NOT NULL,
	hour     TIMESTAMPTZ NOT NULL,
	kind     TEXT NOT NULL,
	n        BIGINT NOT NULL,
	PRIMARY KEY (crossing, hour, kind)
);
CREATE TABLE IF NOT EXISTS audit (
	crossing  TEXT NOT NULL,
	seq       BIGINT NOT NULL,
	at        TIMESTAMPTZ NOT NULL,
	direction TEXT NOT NULL,
	peer      TEXT NOT NULL,
	kind      TEXT NOT NULL,
	msg_id    TEXT NOT NULL,
	alert_id  TEXT NOT NULL,
	actor     TEXT NOT NULL,
	policy    TEXT NOT NULL,
	detail    TEXT NOT NULL,
	PRIMARY KEY (crossing, seq)
);
CREATE TABLE IF NOT EXISTS reports (
	week    DATE PRIMARY KEY,
	made    TIMESTAMPTZ NOT NULL,
	html    TEXT NOT NULL,
	csv     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS refused (
	crossing TEXT NOT NULL,
	msg_id   TEXT NOT NULL,
	subject  TEXT NOT NULL,
	reason   TEXT NOT NULL,
	at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
`

// DB is the centre's PostgreSQL database.
type DB struct{ pool *pgxpool.Pool }

// OpenDB connects and creates the schema.
func OpenDB(ctx context.Context, dsn string) (*DB, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, schemaSQL); err != nil {
		pool.Close()
		return nil, fmt.Errorf("centre schema: %w", err)
	}
	return &DB{pool: pool}, nil
}

// Close closes the pool.
func (d *DB) Close() { d.pool.Close() }

// Pool is the connection pool (tests, the dashboard).
func (d *DB) Pool() *pgxpool.Pool { return d.pool }

// Msg is one message of a crossing's feed.
type Msg struct {
	ID, Subject string
	Data        []byte
}

// errRefused marks a message that is kept out of the database (and
// recorded in refused) rather than retried.
var errRefused = errors.New("refused")

// Take stores a batch of one crossing's messages in one transaction.
// It returns how many were new, seen before and refused.
func (d *DB) Take(ctx context.Context, crossing string, msgs []Msg) (added, again, refused int, err error) {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	defer tx.Rollback(ctx)
	for _, m := range msgs {
		kind := blo.KindOf(m.Subject)
		if m.ID == "" || m.Subject != blo.UpSubject(crossing, kind) {
			if err := refuse(ctx, tx, crossing, m, "not this crossing's subject or no message id"); err != nil {
				return 0, 0, 0, err
			}
			refused++
			continue
		}
		tag, err := tx.Exec(ctx, `INSERT INTO messages(msg_id, crossing, kind) VALUES ($1,$2,$3) ON CONFLICT DO NOTHING`, m.ID, crossing, kind)
		if err != nil {
			return 0, 0, 0, err
		}
		if tag.RowsAffected() == 0 {
			again++
			continue
		}
		err = apply(ctx, tx, crossing, kind, m.Data)
		if errors.Is(err, errRefused) {
			if err := refuse(ctx, tx, crossing, m, err.Error()); err != nil {
				return 0, 0, 0, err
			}
			refused++
			continue
		}
		if err != nil {
			return 0, 0, 0, err
		}
		added++
	}
	return added, again, refused, tx.Commit(ctx)
}

func refuse(ctx context.Context, tx pgx.Tx, crossing string, m Msg, why string) error {
	_, err := tx.Exec(ctx, `INSERT INTO refused(crossing, msg_id, subject, reason) VALUES ($1,$2,$3,$4)`, crossing, m.ID, m.Subject, why)
	return err
}

// apply writes one message. The crossing comes from the account the feed
// is in, never from the message: a message claiming another crossing is
// refused.
func apply(ctx context.Context, tx pgx.Tx, crossing, kind string, data []byte) error {
	bad := func(why string) error { return fmt.Errorf("%w: %s", errRefused, why) }
	switch kind {
	case blo.KindAlert:
		var ua blo.UpAlert
		if json.Unmarshal(data, &ua) != nil || ua.ID == "" {
			return bad("alert does not parse")
		}
		a := ua.Alert
		if a.Crossing != crossing || blo.GlobalID(crossing, a.ID) != a.ID {
			return bad("alert of another crossing")
		}
		_, err := tx.Exec(ctx, `INSERT INTO alerts(id, crossing, box, device, rule, severity, summary, state, origin, raised, body)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT (id) DO NOTHING`,
			a.ID, crossing, a.Box, a.Device, a.Rule, a.Severity, a.Summary, a.State, a.Time, a.Raised, data)
		if err != nil {
			return err
		}
		for _, s := range ua.Subjects {
			if _, err := tx.Exec(ctx, `INSERT INTO subjects(alert_id, type, value) VALUES ($1,$2,$3) ON CONFLICT DO NOTHING`, a.ID, s.Type, s.Value); err != nil {
				return err
			}
		}
		return nil
	case blo.KindTransition:
		var t blo.Transition
		if json.Unmarshal(data, &t) != nil || t.Crossing != crossing {
			return bad("transition does not parse or is of another crossing")
		}
		if _, err := tx.Exec(ctx, `INSERT INTO transitions(crossing, seq, alert_id, action, actor, role, note, at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)
			ON CONFLICT DO NOTHING`, crossing, t.Seq, t.AlertID, t.Action, t.User, t.Role, t.Note, t.Time); err != nil {
			return err
		}
		if t.Action == "acknowledged" || t.Action == "resolved" {
			_, err := tx.Exec(ctx, `UPDATE alerts SET state = $1 WHERE id = $2 AND state <> 'resolved'`, t.Action, t.AlertID)
			return err
		}
		return nil
	case blo.KindHealth:
		var h blo.Health
		if json.Unmarshal(data, &h) != nil || h.Crossing != crossing || h.Box == "" {
			return bad("health does not parse or is of another crossing")
		}
		_, err := tx.Exec(ctx, `INSERT INTO health(crossing, box, device, state, at, body) VALUES ($1,$2,$3,$4,$5,$6)
			ON CONFLICT (crossing, box, device) DO UPDATE SET state = excluded.state, at = excluded.at, body = excluded.body
			WHERE health.at <= excluded.at`, crossing, h.Box, h.Device, h.State, h.Time, []byte(h.Body))
		return err
	case blo.KindCounts:
		var c blo.Counts
		if json.Unmarshal(data, &c) != nil || c.Crossing != crossing {
			return bad("counts do not parse or are of another crossing")
		}
		for k, n := range c.Counts {
			if _, err := tx.Exec(ctx, `INSERT INTO counts(crossing, hour, kind, n) VALUES ($1,$2,$3,$4)
				ON CONFLICT (crossing, hour, kind) DO UPDATE SET n = GREATEST(counts.n, excluded.n)`, crossing, c.Hour, k, n); err != nil {
				return err
			}
		}
		return nil
	case blo.KindAudit:
		var a blo.AuditEntry
		if json.Unmarshal(data, &a) != nil || a.Crossing != crossing {
			return bad("audit line does not parse or is of another crossing")
		}
		_, err := tx.Exec(ctx, `INSERT INTO audit(crossing, seq, at, direction, peer, kind, msg_id, alert_id, actor, policy, detail)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT DO NOTHING`,
			crossing, a.Seq, a.At, a.Direction, a.Peer, a.Kind, a.MsgID, a.AlertID, a.Actor, a.Policy, a.Detail)
		return err
	}
	return bad("unknown kind " + kind)
}

// Stats are the centre's running totals of one crossing.
type Stats struct {
	Crossing string    `json:"crossing"`
	Taken    int64     `json:"taken"`
	Again    int64     `json:"again"` // delivered again and ignored by message id
	Refused  int64     `json:"refused"`
	Pending  uint64    `json:"pending"` // in the centre's stream, not yet in the database
	HubLag   uint64    `json:"hub_lag"` // at the hub, not yet at the centre (last known)
	LinkUp   bool      `json:"link_up"`
	Active   time.Time `json:"active"`
}
