package hub

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kordon/kordon/hub/dash"
	"github.com/kordon/kordon/hub/events"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/sqltime"
)

// dashStore is the dashboard's view of the hub database (dash.Store).
type dashStore struct {
	s      *store
	redact *redactor // readings are served with what their kind's schema marks personal withheld
}

const alertCols = `id, body, state, repeats, cleared_at, ack_by, ack_at, ack_note, resolved_by, resolved_at, resolved_note`

func scanAlert(sc interface{ Scan(...any) error }) (dash.AlertView, error) {
	var v dash.AlertView
	var id, body string
	err := sc.Scan(&id, &body, &v.State, &v.Repeats, &v.ClearedAt, &v.AckBy, &v.AckAt, &v.AckNote, &v.ResolvedBy, &v.ResolvedAt, &v.ResolvedNote)
	if err != nil {
		return v, err
	}
	state := v.State
	if err := json.Unmarshal([]byte(body), &v.Alert); err != nil {
		return v, fmt.Errorf("alert %s: stored body: %w", id, err)
	}
	v.Alert.State = state // the column is the truth; the body keeps the raise
	return v, nil
}

func likeEscape(s string) string {
	return "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(s) + "%"
}

func (d dashStore) SearchAlerts(ctx context.Context, q dash.Query) ([]dash.AlertView, error) {
	var where []string
	var args []any
	if q.Text != "" {
		where = append(where, `(rule LIKE ? ESCAPE '\' OR box LIKE ? ESCAPE '\' OR device LIKE ? ESCAPE '\' OR json_extract(body, '$.summary') LIKE ? ESCAPE '\' OR ack_note LIKE ? ESCAPE '\' OR resolved_note LIKE ? ESCAPE '\' OR ack_by LIKE ? ESCAPE '\' OR resolved_by LIKE ? ESCAPE '\' OR id = ?)`)
		l := likeEscape(q.Text)
		args = append(args, l, l, l, l, l, l, l, l, q.Text)
	}
	for col, v := range map[string]string{"severity": q.Severity, "state": q.State, "box": q.Box} {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	if !q.From.IsZero() {
		where = append(where, "raised >= ?")
		args = append(args, sqltime.Format(q.From))
	}
	if !q.To.IsZero() {
		where = append(where, "raised < ?")
		args = append(args, sqltime.Format(q.To))
	}
	sqlq := `SELECT ` + alertCols + ` FROM alerts`
	if len(where) > 0 {
		sqlq += " WHERE " + strings.Join(where, " AND ")
	}
	sqlq += " ORDER BY raised DESC LIMIT ?"
	args = append(args, q.Limit)
	rows, err := d.s.rd.QueryContext(ctx, sqlq, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []dash.AlertView{}
	for rows.Next() {
		v, err := scanAlert(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (d dashStore) Alert(ctx context.Context, id string) (dash.AlertView, []dash.LogEntry, error) {
	v, err := scanAlert(d.s.rd.QueryRowContext(ctx, `SELECT `+alertCols+` FROM alerts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return v, nil, dash.ErrNotFound
	}
	if err != nil {
		return v, nil, err
	}
	log, err := d.logQuery(ctx, `SELECT seq, alert_id, action, user, role, note, time, ref FROM alert_log WHERE alert_id = ? ORDER BY seq LIMIT 500`, id)
	return v, log, err
}

func (d dashStore) logQuery(ctx context.Context, q string, args ...any) ([]dash.LogEntry, error) {
	rows, err := d.s.rd.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []dash.LogEntry
	for rows.Next() {
		var e dash.LogEntry
		var at, ref string
		if err := rows.Scan(&e.Seq, &e.AlertID, &e.Action, &e.User, &e.Role, &e.Note, &at, &ref); err != nil {
			return nil, err
		}
		e.Time, _ = sqltime.Parse(at)
		if ref != "" {
			var r contract.ReadingRef
			if json.Unmarshal([]byte(ref), &r) == nil {
				e.Ref = &r
			}
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (d dashStore) LogSince(ctx context.Context, seq int64, limit int) ([]dash.LogEntry, error) {
	return d.logQuery(ctx, `SELECT seq, alert_id, action, user, role, note, time, ref FROM alert_log WHERE seq > ? ORDER BY seq LIMIT ?`, seq, limit)
}

func (d dashStore) LastSeq(ctx context.Context) (int64, error) {
	var n int64
	err := d.s.rd.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM alert_log`).Scan(&n)
	return n, err
}

// Act moves an alert along open -> acknowledged -> resolved (or open ->
// resolved) and logs who did it, in one transaction.
func (d dashStore) Act(ctx context.Context, id, action string, u dash.User, note string, at time.Time) (dash.LogEntry, error) {
	e := dash.LogEntry{AlertID: id, Action: action, User: u.User, Role: u.Role, Note: note, Time: at.UTC()}
	tx, err := d.s.db.BeginTx(ctx, nil)
	if err != nil {
		return e, err
	}
	defer tx.Rollback()
	var state string
	err = tx.QueryRowContext(ctx, `SELECT state FROM alerts WHERE id = ?`, id).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return e, dash.ErrNotFound
	}
	if err != nil {
		return e, err
	}
	when := sqltime.Format(at)
	switch {
	case action == "acknowledged" && state == "open":
		_, err = tx.ExecContext(ctx, `UPDATE alerts SET state = 'acknowledged', ack_by = ?, ack_at = ?, ack_note = ?, body = json_set(body, '$.state', 'acknowledged') WHERE id = ?`, u.User, when, note, id)
	case action == "resolved" && (state == "open" || state == "acknowledged"):
		_, err = tx.ExecContext(ctx, `UPDATE alerts SET state = 'resolved', resolved_by = ?, resolved_at = ?, resolved_note = ?, body = json_set(body, '$.state', 'resolved') WHERE id = ?`, u.User, when, note, id)
	default:
		return e, fmt.Errorf("%w: it is %s", dash.ErrTransition, state)
	}
	if err != nil {
		return e, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO alert_log(alert_id, action, user, role, note, time) VALUES (?,?,?,?,?,?)`, id, action, u.User, u.Role, note, when)
	if err != nil {
		return e, err
	}
	if e.Seq, err = res.LastInsertId(); err != nil {
		return e, err
	}
	if err := tx.Commit(); err != nil {
		return e, err
	}
	// Acknowledgements and resolutions reach the after-commit subscribers
	// like the rules' changes (an uplink forwards alert transitions).
	d.s.changed.Committed(&events.Batch{Changes: []events.Change{{Seq: e.Seq, AlertID: id, Action: action, User: u.User, Role: u.Role, Note: note, Time: e.Time}}})
	return e, nil
}

func (d dashStore) Readings(ctx context.Context, refs []contract.ReadingRef) ([]json.RawMessage, error) {
	out := []json.RawMessage{}
	seen := map[contract.ReadingRef]bool{}
	for _, r := range refs {
		if seen[r] {
			continue
		}
		seen[r] = true
		var body string
		err := d.s.rd.QueryRowContext(ctx, `SELECT body FROM readings WHERE box = ? AND incarnation = ? AND device = ? AND seq = ?`, r.Box, r.Incarnation, r.Device, r.Seq).Scan(&body)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, d.redact.envelope([]byte(body)))
	}
	return out, nil
}

func (d dashStore) Activity(ctx context.Context, since time.Time) ([]dash.Activity, error) {
	// Counted per hour (store.go): the first hour is counted whole.
	rows, err := d.s.rd.QueryContext(ctx, `SELECT box, device, MAX(last), SUM(n) FROM activity WHERE hour >= ? GROUP BY box, device`,
		stamp(since.UTC().Truncate(time.Hour)))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []dash.Activity
	for rows.Next() {
		var a dash.Activity
		var last string
		if err := rows.Scan(&a.Box, &a.Device, &last, &a.Count); err != nil {
			return nil, err
		}
		a.Last, _ = sqltime.Parse(last)
		out = append(out, a)
	}
	return out, rows.Err()
}

// Boxes is what the store knows of each box: its incarnations and the
// readings the hub refused, by reason (box health).
func (d dashStore) Boxes(ctx context.Context) ([]dash.BoxRecord, error) {
	recs := map[string]*dash.BoxRecord{}
	rec := func(box string) *dash.BoxRecord {
		if r := recs[box]; r != nil {
			return r
		}
		r := &dash.BoxRecord{Box: box, Refused: map[string]int64{}}
		recs[box] = r
		return r
	}
	rows, err := d.s.rd.QueryContext(ctx, `SELECT box, incarnation, first_seen FROM incarnations ORDER BY box, first_seen`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var box, inc, first string
		if err := rows.Scan(&box, &inc, &first); err != nil {
			rows.Close()
			return nil, err
		}
		t, _ := sqltime.Parse(first)
		r := rec(box)
		r.Incarnations = append(r.Incarnations, dash.Incarnation{ID: inc, FirstSeen: t})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = d.s.rd.QueryContext(ctx, `SELECT box, reason, COUNT(*), MAX(received) FROM refused GROUP BY box, reason`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var box, reason, last string
		var n int64
		if err := rows.Scan(&box, &reason, &n, &last); err != nil {
			return nil, err
		}
		r := rec(box)
		r.Refused[reason] = n
		if t, _ := sqltime.Parse(last); t.After(r.LastRefused) {
			r.LastRefused = t
		}
	}
	out := make([]dash.BoxRecord, 0, len(recs))
	for _, r := range recs {
		out = append(out, *r)
	}
	return out, rows.Err()
}
