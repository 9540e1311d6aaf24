package blo

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	_ "modernc.org/sqlite"

	"github.com/kordon/kordon/internal/sqltime"
)

// store is the BLO network's tables in the hub's SQLite database: the
// audit log, the shares sent and their receipts, the alerts received from
// neighbours, and the engine's progress marks. It has its own connection
// pool to the same file so the hub's single writer connection is never
// held across a network round trip.
type store struct {
	db   *sql.DB
	site string
}

const storeSQL = `
CREATE TABLE IF NOT EXISTS blo_state (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
-- Every message sent or received on the BLO network: who, what, when,
-- under which policy. Never holds personal data (shares are stored as
-- they crossed, which the policy already filtered).
CREATE TABLE IF NOT EXISTS blo_audit (
	seq       INTEGER PRIMARY KEY AUTOINCREMENT,
	at        TEXT NOT NULL,
	direction TEXT NOT NULL, -- sent | received
	peer      TEXT NOT NULL,
	kind      TEXT NOT NULL, -- share | receipt
	msg_id    TEXT NOT NULL,
	alert_id  TEXT NOT NULL,
	actor     TEXT NOT NULL, -- officer, "policy", or the neighbour's officer
	policy    TEXT NOT NULL,
	detail    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS blo_shares (
	id        TEXT PRIMARY KEY,
	peer      TEXT NOT NULL,
	alert_id  TEXT NOT NULL,
	shared_by TEXT NOT NULL,
	at        TEXT NOT NULL,
	body      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS blo_shares_alert ON blo_shares(alert_id);
CREATE TABLE IF NOT EXISTS blo_receipts (
	share_id TEXT NOT NULL,
	status   TEXT NOT NULL, -- delivered | seen | acknowledged
	at       TEXT NOT NULL,
	by       TEXT NOT NULL,
	PRIMARY KEY (share_id, status)
);
-- What the engine must publish, in order, written in the same transaction
-- as what it reports; the pump moves it into JetStream and then past it
-- (blo_state 'outbox'). account '' is the uplink, else a neighbour.
CREATE TABLE IF NOT EXISTS blo_outbox (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	account TEXT NOT NULL,
	subject TEXT NOT NULL,
	msg_id  TEXT NOT NULL,
	body    BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS blo_incoming (
	id        TEXT PRIMARY KEY,
	from_site TEXT NOT NULL,
	alert_id  TEXT NOT NULL,
	rule      TEXT NOT NULL,
	received  TEXT NOT NULL,
	body      TEXT NOT NULL,
	seen_by   TEXT NOT NULL DEFAULT '',
	seen_at   TEXT NOT NULL DEFAULT '',
	ack_by    TEXT NOT NULL DEFAULT '',
	ack_at    TEXT NOT NULL DEFAULT ''
);
`

func openStore(path, site string) (*store, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(storeSQL); err != nil {
		db.Close()
		return nil, fmt.Errorf("blo tables: %w", err)
	}
	if err := fixedWidthTimes(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("blo tables: %w", err)
	}
	return &store{db: db, site: site}, nil
}

// fixedWidthTimes rewrites, once, the instants an older version wrote in
// time.RFC3339Nano, whose text does not sort as time (sqltime).
func fixedWidthTimes(db *sql.DB) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.Exec(`INSERT INTO blo_state(key, value) VALUES ('times', 'fixed width') ON CONFLICT(key) DO NOTHING`)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // done before
	}
	n := sqltime.Normalize
	for _, q := range []string{
		`UPDATE blo_audit SET at = ` + n("at"),
		`UPDATE blo_shares SET at = ` + n("at"),
		`UPDATE blo_receipts SET at = ` + n("at"),
		`UPDATE blo_incoming SET received = ` + n("received") + `, seen_at = ` + n("seen_at") + `, ack_at = ` + n("ack_at"),
	} {
		if _, err := tx.Exec(q); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (s *store) close() error { return s.db.Close() }

func ts(t time.Time) string { return sqltime.Format(t) }

func (s *store) mark(key string) int64 {
	var v string
	if s.db.QueryRow(`SELECT value FROM blo_state WHERE key = ?`, key).Scan(&v) != nil {
		return 0
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

func (s *store) setMark(key string, n int64) error {
	_, err := s.db.Exec(`INSERT INTO blo_state(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, strconv.FormatInt(n, 10))
	return err
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	Seq       int64     `json:"seq"`
	Crossing  string    `json:"crossing"`
	At        time.Time `json:"at"`
	Direction string    `json:"direction"`
	Peer      string    `json:"peer"`
	Kind      string    `json:"kind"`
	MsgID     string    `json:"msg_id"`
	AlertID   string    `json:"alert_id"`
	Actor     string    `json:"actor"`
	Policy    string    `json:"policy"`
	Detail    string    `json:"detail"`
}

// audit writes an audit line and queues it for the centre.
func (s *store) audit(tx *sql.Tx, e AuditEntry) error {
	res, err := tx.Exec(`INSERT INTO blo_audit(at, direction, peer, kind, msg_id, alert_id, actor, policy, detail) VALUES (?,?,?,?,?,?,?,?,?)`,
		ts(e.At), e.Direction, e.Peer, e.Kind, e.MsgID, e.AlertID, e.Actor, e.Policy, e.Detail)
	if err != nil {
		return err
	}
	if e.Seq, err = res.LastInsertId(); err != nil {
		return err
	}
	e.Crossing = s.site
	body, _ := json.Marshal(e)
	return s.queue(tx, "", UpSubject(s.site, KindAudit), s.site+":audit:"+strconv.FormatInt(e.Seq, 10), body)
}

func (s *store) queue(tx *sql.Tx, account, subject, msgID string, body []byte) error {
	_, err := tx.Exec(`INSERT INTO blo_outbox(account, subject, msg_id, body) VALUES (?,?,?,?)`, account, subject, msgID, body)
	return err
}

type outMsg struct {
	seq                  int64
	account, subject, id string
	body                 []byte
}

func (s *store) outboxAfter(seq int64, limit int) ([]outMsg, error) {
	rows, err := s.db.Query(`SELECT seq, account, subject, msg_id, body FROM blo_outbox WHERE seq > ? ORDER BY seq LIMIT ?`, seq, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []outMsg
	for rows.Next() {
		var m outMsg
		if err := rows.Scan(&m.seq, &m.account, &m.subject, &m.id, &m.body); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// trimOutbox forgets what JetStream has had for a while.
func (s *store) trimOutbox(before int64) {
	s.db.Exec(`DELETE FROM blo_outbox WHERE seq < ?`, before)
}

// AuditAfter lists audit entries after seq.
func (s *store) auditAfter(ctx context.Context, seq int64, limit int) ([]AuditEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, at, direction, peer, kind, msg_id, alert_id, actor, policy, detail FROM blo_audit WHERE seq > ? ORDER BY seq LIMIT ?`, seq, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at string
		if err := rows.Scan(&e.Seq, &at, &e.Direction, &e.Peer, &e.Kind, &e.MsgID, &e.AlertID, &e.Actor, &e.Policy, &e.Detail); err != nil {
			return nil, err
		}
		e.At, _ = sqltime.Parse(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// addShare records a share about to be sent, with its audit line; false
// if it was already recorded (an automatic share after a restart).
func (s *store) addShare(sh Share, at time.Time) (bool, error) {
	body, _ := json.Marshal(sh)
	tx, err := s.db.Begin()
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	res, err := tx.Exec(`INSERT INTO blo_shares(id, peer, alert_id, shared_by, at, body) VALUES (?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING`,
		sh.ID, sh.To, sh.AlertID, sh.SharedBy, ts(at), string(body))
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	detail := fmt.Sprintf("rule %s; %d alert field(s), %d reading field(s), %d document key(s)", sh.Rule, len(sh.Alert), len(sh.Fields), len(sh.DocKeys))
	if sh.Handling != "" {
		detail += "; handling " + sh.Handling
	}
	if err := s.audit(tx, AuditEntry{At: at, Direction: "sent", Peer: sh.To, Kind: KindShare, MsgID: sh.ID, AlertID: sh.AlertID,
		Actor: sh.SharedBy, Policy: sh.Policy, Detail: detail}); err != nil {
		return false, err
	}
	if err := s.queue(tx, sh.To, NbSubject(s.site, sh.To, KindShare), sh.ID, body); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

func (s *store) shareCount(alertID, peer string) (int, error) {
	var n int
	err := s.db.QueryRow(`SELECT COUNT(*) FROM blo_shares WHERE alert_id = ? AND peer = ?`, alertID, peer).Scan(&n)
	return n, err
}

// Receipt is a neighbour's word on a share: delivered, seen, acknowledged.
type Receipt struct {
	Schema  string    `json:"schema"`
	ShareID string    `json:"share_id"`
	AlertID string    `json:"alert_id"`
	From    string    `json:"from"` // the neighbour that sends the receipt
	To      string    `json:"to"`
	Status  string    `json:"status"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
}

// ReceiptV1 tags a Receipt.
const ReceiptV1 = "kordon.receipt/1"

// Receipt statuses, in order.
const (
	Delivered    = "delivered"
	Seen         = "seen"
	Acknowledged = "acknowledged"
)

func (s *store) addReceipt(r Receipt, policy string) (bool, error) {
	tx, err := s.db.Begin()
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	res, err := tx.Exec(`INSERT INTO blo_receipts(share_id, status, at, by) VALUES (?,?,?,?) ON CONFLICT DO NOTHING`, r.ShareID, r.Status, ts(r.At), r.By)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if err := s.audit(tx, AuditEntry{At: time.Now(), Direction: "received", Peer: r.From, Kind: KindReceipt,
		MsgID: receiptID(r), AlertID: r.AlertID, Actor: r.By, Policy: policy, Detail: r.Status + " " + r.ShareID}); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

func receiptID(r Receipt) string { return r.From + ":receipt:" + r.ShareID + ":" + r.Status }

// Incoming is an alert shared by a neighbour, as this hub holds it.
type Incoming struct {
	Share    Share     `json:"share"`
	Received time.Time `json:"received"`
	SeenBy   string    `json:"seen_by,omitempty"`
	SeenAt   string    `json:"seen_at,omitempty"`
	AckBy    string    `json:"ack_by,omitempty"`
	AckAt    string    `json:"ack_at,omitempty"`
}

// addIncoming stores a received share and audits it; false when it was
// already held (a redelivery).
func (s *store) addIncoming(sh Share, at time.Time) (bool, error) {
	body, _ := json.Marshal(sh)
	tx, err := s.db.Begin()
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	res, err := tx.Exec(`INSERT INTO blo_incoming(id, from_site, alert_id, rule, received, body) VALUES (?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING`,
		sh.ID, sh.From, sh.AlertID, sh.Rule, ts(at), string(body))
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if err := s.audit(tx, AuditEntry{At: at, Direction: "received", Peer: sh.From, Kind: KindShare, MsgID: sh.ID, AlertID: sh.AlertID,
		Actor: sh.SharedBy, Policy: sh.Policy, Detail: fmt.Sprintf("rule %s; %d field(s)", sh.Rule, len(sh.Alert)+len(sh.Fields)+len(sh.DocKeys))}); err != nil {
		return false, err
	}
	if err := s.sendReceipt(tx, sh, Delivered, "hub", at); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// sendReceipt queues a receipt for a share and audits it.
func (s *store) sendReceipt(tx *sql.Tx, sh Share, status, user string, at time.Time) error {
	r := Receipt{Schema: ReceiptV1, ShareID: sh.ID, AlertID: sh.AlertID, From: s.site, To: sh.From, Status: status, By: user, At: at.UTC()}
	body, _ := json.Marshal(r)
	if err := s.audit(tx, AuditEntry{At: at, Direction: "sent", Peer: sh.From, Kind: KindReceipt, MsgID: receiptID(r),
		AlertID: sh.AlertID, Actor: user, Policy: sh.Policy, Detail: status + " " + sh.ID}); err != nil {
		return err
	}
	return s.queue(tx, sh.From, NbSubject(s.site, sh.From, KindReceipt), receiptID(r), body)
}

var errNoIncoming = errors.New("no such incoming alert")

// markIncoming records that user saw or acknowledged an incoming alert; it
// returns the share, and false when that was already recorded.
func (s *store) markIncoming(id, status, user string, at time.Time) (Share, bool, error) {
	var sh Share
	var body, seen, ack string
	err := s.db.QueryRow(`SELECT body, seen_at, ack_at FROM blo_incoming WHERE id = ?`, id).Scan(&body, &seen, &ack)
	if errors.Is(err, sql.ErrNoRows) {
		return sh, false, errNoIncoming
	}
	if err != nil {
		return sh, false, err
	}
	json.Unmarshal([]byte(body), &sh)
	tx, err := s.db.Begin()
	if err != nil {
		return sh, false, err
	}
	defer tx.Rollback()
	switch {
	case status == Seen && seen == "":
		_, err = tx.Exec(`UPDATE blo_incoming SET seen_by = ?, seen_at = ? WHERE id = ?`, user, ts(at), id)
	case status == Acknowledged && ack == "":
		// Acknowledging is seeing as well.
		_, err = tx.Exec(`UPDATE blo_incoming SET ack_by = ?, ack_at = ?, seen_by = CASE seen_at WHEN '' THEN ? ELSE seen_by END,
			seen_at = CASE seen_at WHEN '' THEN ? ELSE seen_at END WHERE id = ?`, user, ts(at), user, ts(at), id)
	default:
		return sh, false, nil
	}
	if err != nil {
		return sh, false, err
	}
	if status == Acknowledged && seen == "" {
		if err := s.sendReceipt(tx, sh, Seen, user, at); err != nil {
			return sh, false, err
		}
	}
	if err := s.sendReceipt(tx, sh, status, user, at); err != nil {
		return sh, false, err
	}
	return sh, true, tx.Commit()
}

func (s *store) incoming(ctx context.Context, limit int) ([]Incoming, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT body, received, seen_by, seen_at, ack_by, ack_at FROM blo_incoming ORDER BY received DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Incoming{}
	for rows.Next() {
		var in Incoming
		var body, rec string
		if err := rows.Scan(&body, &rec, &in.SeenBy, &in.SeenAt, &in.AckBy, &in.AckAt); err != nil {
			return nil, err
		}
		json.Unmarshal([]byte(body), &in.Share)
		in.Received, _ = sqltime.Parse(rec)
		out = append(out, in)
	}
	return out, rows.Err()
}

// SentShare is a share this hub sent, with the receipts it got back.
type SentShare struct {
	Share    Share             `json:"share"`
	Receipts map[string]string `json:"receipts"` // status -> time
}

func (s *store) sent(ctx context.Context, alertID string) ([]SentShare, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, body FROM blo_shares WHERE alert_id = ? ORDER BY at`, alertID)
	if err != nil {
		return nil, err
	}
	var out []SentShare
	var ids []string
	for rows.Next() {
		var id, body string
		if err := rows.Scan(&id, &body); err != nil {
			rows.Close()
			return nil, err
		}
		var ss SentShare
		json.Unmarshal([]byte(body), &ss.Share)
		ss.Receipts = map[string]string{}
		out = append(out, ss)
		ids = append(ids, id)
	}
	rows.Close()
	for i, id := range ids {
		rr, err := s.db.QueryContext(ctx, `SELECT status, at FROM blo_receipts WHERE share_id = ?`, id)
		if err != nil {
			return nil, err
		}
		for rr.Next() {
			var st, at string
			rr.Scan(&st, &at)
			out[i].Receipts[st] = at
		}
		rr.Close()
	}
	return out, nil
}
