package centre

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"time"
)

// The i2 export (docs/centre-i2-export.md): two CSV tables an i2 Analyst's
// Notebook / iBase import specification maps to entity and link types.
// Every id is qualified by its crossing (or, for subjects, by its type),
// so two crossings' exports merged never collide.

// entitiesHeader and linksHeader are the columns of the two tables.
var (
	entitiesHeader = []string{"entity_id", "entity_type", "label", "crossing", "rule", "severity", "state", "date_time", "description"}
	linksHeader    = []string{"link_id", "link_type", "from_id", "to_id", "crossing", "date_time"}
)

func crossingEntity(x string) string { return "crossing:" + x }
func deviceEntity(x, box, device string) string {
	return "device:" + x + ":" + box + ":" + device
}
func subjectEntity(typ, value string) string { return "subject:" + typ + ":" + value }

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// I2Entities writes the entities of alerts raised in [from, to).
func (d *DB) I2Entities(ctx context.Context, w io.Writer, from, to time.Time) error {
	cw := csv.NewWriter(w)
	cw.Write(entitiesHeader)
	seen := map[string]bool{}
	rows, err := d.pool.Query(ctx, `SELECT id, crossing, box, device, rule, severity, state, raised, summary FROM alerts
		WHERE raised >= $1 AND raised < $2 ORDER BY raised`, from, to)
	if err != nil {
		return err
	}
	type ent struct{ id, typ, label, x, rule, sev, state, at, desc string }
	var ents []ent
	for rows.Next() {
		var id, x, box, dev, rule, sev, state, sum string
		var at time.Time
		if err := rows.Scan(&id, &x, &box, &dev, &rule, &sev, &state, &at, &sum); err != nil {
			rows.Close()
			return err
		}
		when := at.UTC().Format(time.RFC3339)
		ents = append(ents, ent{id, "Alert", rule + " " + when, x, rule, sev, state, when, sum})
		if c := crossingEntity(x); !seen[c] {
			seen[c] = true
			ents = append(ents, ent{c, "Crossing", x, x, "", "", "", "", ""})
		}
		if dv := deviceEntity(x, box, dev); !seen[dv] {
			seen[dv] = true
			ents = append(ents, ent{dv, "Device", box + "/" + dev, x, "", "", "", "", ""})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	srows, err := d.pool.Query(ctx, `SELECT DISTINCT s.type, s.value FROM subjects s JOIN alerts a ON a.id = s.alert_id
		WHERE a.raised >= $1 AND a.raised < $2 ORDER BY 1, 2`, from, to)
	if err != nil {
		return err
	}
	for srows.Next() {
		var typ, val string
		srows.Scan(&typ, &val)
		ents = append(ents, ent{subjectEntity(typ, val), subjectType(typ), val, "", "", "", "", "", ""})
	}
	srows.Close()
	for _, e := range ents {
		cw.Write([]string{e.id, e.typ, csvSafe(e.label), e.x, e.rule, e.sev, e.state, e.at, csvSafe(e.desc)})
	}
	cw.Flush()
	return cw.Error()
}

func subjectType(t string) string {
	switch t {
	case "document-key":
		return "DocumentKey"
	case "container":
		return "Container"
	case "substance":
		return "Substance"
	case "plate":
		return "Vehicle"
	}
	return "Subject"
}

// I2Links writes the links of alerts raised in [from, to): alert raised at
// crossing, alert raised by device, alert about subject, and alert shared
// with a neighbour (from the audit log).
func (d *DB) I2Links(ctx context.Context, w io.Writer, from, to time.Time) error {
	cw := csv.NewWriter(w)
	cw.Write(linksHeader)
	rows, err := d.pool.Query(ctx, `SELECT id, crossing, box, device, raised FROM alerts WHERE raised >= $1 AND raised < $2 ORDER BY raised`, from, to)
	if err != nil {
		return err
	}
	var recs [][]string
	for rows.Next() {
		var id, x, box, dev string
		var at time.Time
		if err := rows.Scan(&id, &x, &box, &dev, &at); err != nil {
			rows.Close()
			return err
		}
		when := at.UTC().Format(time.RFC3339)
		recs = append(recs,
			[]string{"raised_at:" + id, "RaisedAt", id, crossingEntity(x), x, when},
			[]string{"raised_by:" + id, "RaisedBy", id, deviceEntity(x, box, dev), x, when})
	}
	rows.Close()
	srows, err := d.pool.Query(ctx, `SELECT s.alert_id, s.type, s.value, a.crossing, a.raised FROM subjects s JOIN alerts a ON a.id = s.alert_id
		WHERE a.raised >= $1 AND a.raised < $2 ORDER BY a.raised`, from, to)
	if err != nil {
		return err
	}
	for srows.Next() {
		var id, typ, val, x string
		var at time.Time
		srows.Scan(&id, &typ, &val, &x, &at)
		recs = append(recs, []string{"about:" + id + ":" + typ + ":" + val, "About", id, subjectEntity(typ, val), x, at.UTC().Format(time.RFC3339)})
	}
	srows.Close()
	arows, err := d.pool.Query(ctx, `SELECT crossing, seq, alert_id, peer, at FROM audit WHERE direction = 'sent' AND kind = 'share' AND at >= $1 AND at < $2 ORDER BY at`, from, to)
	if err != nil {
		return err
	}
	for arows.Next() {
		var x, id, peer string
		var seq int64
		var at time.Time
		arows.Scan(&x, &seq, &id, &peer, &at)
		recs = append(recs, []string{fmt.Sprintf("shared:%s:%d", x, seq), "SharedWith", id, crossingEntity(peer), x, at.UTC().Format(time.RFC3339)})
	}
	arows.Close()
	for _, r := range recs {
		cw.Write(r)
	}
	cw.Flush()
	return cw.Error()
}
