package centre

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"html/template"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// The weekly report for the i2 feed: alerts per crossing and rule for one
// ISO week (Monday 00:00 UTC to the next), as HTML and CSV, made on its own
// once the week is over and kept in the database (and in a directory when
// one is configured).

// WeekStart is the Monday 00:00 UTC of t's ISO week.
func WeekStart(t time.Time) time.Time {
	t = t.UTC().Truncate(24 * time.Hour)
	wd := (int(t.Weekday()) + 6) % 7
	return t.AddDate(0, 0, -wd)
}

type reportRow struct {
	Crossing, Rule, Severity string
	Alerts, Shared           int
}

var reportTmpl = template.Must(template.New("r").Parse(`<!doctype html><html lang="en"><meta charset="utf-8">
<title>Kordon weekly report {{.Week}}</title>
<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 8px}</style>
<h1>Kordon — weekly report, week of {{.Week}}</h1>
<p>Alerts raised {{.From}} to {{.To}} (UTC) at every crossing, by rule; "shared" counts the alerts sent to a neighbouring BLO. Made {{.Made}}.</p>
<table><tr><th>crossing</th><th>rule</th><th>severity</th><th>alerts</th><th>shared</th></tr>
{{range .Rows}}<tr><td>{{.Crossing}}</td><td>{{.Rule}}</td><td>{{.Severity}}</td><td>{{.Alerts}}</td><td>{{.Shared}}</td></tr>
{{end}}</table><p>Total alerts: {{.Total}}</p></html>`))

// MakeReport builds the report of the week starting at week.
func (d *DB) MakeReport(ctx context.Context, week time.Time) (html, csvText []byte, err error) {
	from, to := week, week.AddDate(0, 0, 7)
	rows, err := d.pool.Query(ctx, `SELECT a.crossing, a.rule, a.severity, count(*),
		count(*) FILTER (WHERE EXISTS (SELECT 1 FROM audit u WHERE u.alert_id = a.id AND u.direction = 'sent' AND u.kind = 'share'))
		FROM alerts a WHERE a.raised >= $1 AND a.raised < $2 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, from, to)
	if err != nil {
		return nil, nil, err
	}
	var out []reportRow
	total := 0
	for rows.Next() {
		var r reportRow
		if err := rows.Scan(&r.Crossing, &r.Rule, &r.Severity, &r.Alerts, &r.Shared); err != nil {
			rows.Close()
			return nil, nil, err
		}
		total += r.Alerts
		out = append(out, r)
	}
	rows.Close()
	var h bytes.Buffer
	err = reportTmpl.Execute(&h, map[string]any{"Week": week.Format("2006-01-02"), "From": from.Format(time.RFC3339),
		"To": to.Format(time.RFC3339), "Made": time.Now().UTC().Format(time.RFC3339), "Rows": out, "Total": total})
	if err != nil {
		return nil, nil, err
	}
	var c bytes.Buffer
	cw := csv.NewWriter(&c)
	cw.Write([]string{"week", "crossing", "rule", "severity", "alerts", "shared"})
	for _, r := range out {
		cw.Write([]string{week.Format("2006-01-02"), r.Crossing, r.Rule, r.Severity, strconv.Itoa(r.Alerts), strconv.Itoa(r.Shared)})
	}
	cw.Flush()
	return h.Bytes(), c.Bytes(), cw.Error()
}

// EnsureReport makes and keeps the report of the last complete week if it
// is not kept yet; it returns the week and whether it made it.
func (d *DB) EnsureReport(ctx context.Context, now time.Time, dir string) (time.Time, bool, error) {
	week := WeekStart(now).AddDate(0, 0, -7)
	var n int
	if err := d.pool.QueryRow(ctx, `SELECT count(*) FROM reports WHERE week = $1`, week).Scan(&n); err != nil {
		return week, false, err
	}
	if n > 0 {
		return week, false, nil
	}
	html, csvText, err := d.MakeReport(ctx, week)
	if err != nil {
		return week, false, err
	}
	if _, err := d.pool.Exec(ctx, `INSERT INTO reports(week, made, html, csv) VALUES ($1, now(), $2, $3) ON CONFLICT DO NOTHING`,
		week, string(html), string(csvText)); err != nil {
		return week, false, err
	}
	if dir != "" {
		name := filepath.Join(dir, "kordon-week-"+week.Format("2006-01-02"))
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return week, true, err
		}
		if err := os.WriteFile(name+".html", html, 0o640); err != nil {
			return week, true, err
		}
		if err := os.WriteFile(name+".csv", csvText, 0o640); err != nil {
			return week, true, err
		}
	}
	return week, true, nil
}

// Report is a kept report.
func (d *DB) Report(ctx context.Context, week time.Time, format string) ([]byte, error) {
	col := "html"
	if format == "csv" {
		col = "csv"
	}
	var s string
	err := d.pool.QueryRow(ctx, `SELECT `+col+` FROM reports WHERE week = $1`, week).Scan(&s)
	return []byte(s), err
}

// Reports lists the weeks kept, newest first.
func (d *DB) Reports(ctx context.Context) ([]time.Time, error) {
	rows, err := d.pool.Query(ctx, `SELECT week FROM reports ORDER BY week DESC LIMIT 200`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var w time.Time
		rows.Scan(&w)
		out = append(out, w)
	}
	return out, rows.Err()
}

// RunReports makes each week's report once the week is over: it checks
// every hour, so a centre that was down at midnight on Sunday makes it
// when it comes back.
func (d *DB) RunReports(ctx context.Context, dir string, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if week, made, err := d.EnsureReport(ctx, time.Now(), dir); err != nil {
			log.Warn("weekly report", "err", err)
		} else if made {
			log.Info("weekly report made", "week", week.Format("2006-01-02"))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func fmtWeek(t time.Time) string { return fmt.Sprint(t.UTC().Format("2006-01-02")) }
