package dash

import (
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Column is one column of the i2 export. docs/i2-export.md documents the
// same list; a test keeps the two equal.
type Column struct {
	Name string
	I2   string // the role the column plays in an i2 import specification
	get  func(a AlertView, crossing string) string
}

func ts(s string) string { // stored RFC 3339 with nanoseconds -> seconds, UTC
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC().Format(time.RFC3339)
	}
	return ""
}

// Columns is the i2 export's column mapping, in order (a copy: the
// mapping itself cannot be changed from outside).
func Columns() []Column { return slices.Clone(columns) }

var columns = []Column{
	{"alert_id", "Alert entity: identity", func(a AlertView, _ string) string { return a.ID }},
	{"date", "Alert entity: date (yyyy-MM-dd, UTC)", func(a AlertView, _ string) string { return a.Time.UTC().Format("2006-01-02") }},
	{"time", "Alert entity: time (HH:mm:ss, UTC)", func(a AlertView, _ string) string { return a.Time.UTC().Format("15:04:05") }},
	{"datetime_utc", "Alert entity: date and time (ISO 8601)", func(a AlertView, _ string) string { return a.Time.UTC().Format(time.RFC3339) }},
	{"raised_utc", "Alert attribute", func(a AlertView, _ string) string { return a.Raised.UTC().Format(time.RFC3339) }},
	{"severity", "Alert attribute; icon/colour by value", func(a AlertView, _ string) string { return a.Severity }},
	{"rule", "Alert entity: type label", func(a AlertView, _ string) string { return a.Rule }},
	{"summary", "Alert entity: description", func(a AlertView, _ string) string { return a.Summary }},
	{"state", "Alert attribute", func(a AlertView, _ string) string { return a.State }},
	{"crossing", "Location entity: identity", func(a AlertView, c string) string { return firstNonEmpty(a.Crossing, c) }},
	{"booth_id", "Booth entity: identity (crossing/box)", func(a AlertView, c string) string { return firstNonEmpty(a.Crossing, c) + "/" + a.Box }},
	{"booth", "Booth entity: label", func(a AlertView, _ string) string { return a.Box }},
	{"device_id", "Device entity: identity (crossing/box/device)", func(a AlertView, c string) string {
		return firstNonEmpty(a.Crossing, c) + "/" + a.Box + "/" + a.Device
	}},
	{"device", "Device entity: label", func(a AlertView, _ string) string { return a.Device }},
	{"reading_refs", "Alert attribute: readings behind the alert (crossing/box/device[@incarnation]#seq; ...)", func(a AlertView, c string) string {
		var p []string
		for _, r := range a.Readings {
			// Crossing-qualified, like every other id: two crossings' exports merge without collisions.
			id := firstNonEmpty(a.Crossing, c) + "/" + r.Box + "/" + r.Device
			if r.Incarnation != "" {
				id += "@" + r.Incarnation
			}
			p = append(p, id+"#"+strconv.FormatUint(r.Seq, 10))
		}
		return strings.Join(p, "; ")
	}},
	{"repeats", "Alert attribute: matches within cool-down", func(a AlertView, _ string) string { return strconv.Itoa(a.Repeats) }},
	{"condition_cleared_utc", "Alert attribute", func(a AlertView, _ string) string { return ts(a.ClearedAt) }},
	{"acknowledged_by", "Officer entity: identity; link Officer-acknowledged-Alert", func(a AlertView, _ string) string { return a.AckBy }},
	{"acknowledged_utc", "Link date and time", func(a AlertView, _ string) string { return ts(a.AckAt) }},
	{"acknowledgement_note", "Link description", func(a AlertView, _ string) string { return a.AckNote }},
	{"resolved_by", "Officer entity: identity; link Officer-resolved-Alert", func(a AlertView, _ string) string { return a.ResolvedBy }},
	{"resolved_utc", "Link date and time", func(a AlertView, _ string) string { return ts(a.ResolvedAt) }},
	{"resolution_note", "Link description", func(a AlertView, _ string) string { return a.ResolvedNote }},
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// freeText are the columns people or rules write into; a cell there that a
// spreadsheet would run as a formula is defused (docs/i2-export.md).
var freeText = map[string]bool{"summary": true, "acknowledgement_note": true, "resolution_note": true}

func defuse(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// WriteCSV writes alerts in the i2 export format: UTF-8, a header row,
// comma-separated, RFC 4180 quoting, CRLF line ends.
func WriteCSV(w io.Writer, alerts []AlertView, crossing string) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	head := make([]string, len(columns))
	for i, c := range columns {
		head[i] = c.Name
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	row := make([]string, len(columns))
	for _, a := range alerts {
		for i, c := range columns {
			v := c.get(a, crossing)
			if freeText[c.Name] {
				v = defuse(v)
			}
			// One record per line keeps simple importers happy; notes keep their text.
			row[i] = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(v)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// export serves a day's (or a range's) alerts as CSV for i2:
// /dash/export.csv?day=2026-11-01 or ?from=2026-11-01&to=2026-11-07.
func (d *Dash) export(w http.ResponseWriter, r *http.Request, s *session) {
	if !canExport(s.user.Role) {
		http.Error(w, "your role may not export", http.StatusForbidden)
		return
	}
	v := r.URL.Query()
	q := Query{Limit: maxReport}
	var err error
	if day := v.Get("day"); day != "" {
		if q.From, err = time.Parse("2006-01-02", day); err != nil {
			http.Error(w, "day must be 2006-01-02", http.StatusBadRequest)
			return
		}
		q.To = q.From.AddDate(0, 0, 1)
	} else if q, err = parseQuery(r); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q.Limit = maxReport
	alerts, err := d.opt.Store.SearchAlerts(r.Context(), q)
	if err != nil {
		storeErr(w, d.opt.Log, err)
		return
	}
	// Oldest first: the order an analyst reads a day in.
	for i, j := 0, len(alerts)-1; i < j; i, j = i+1, j-1 {
		alerts[i], alerts[j] = alerts[j], alerts[i]
	}
	name := "kordon-" + d.opt.Crossing + "-alerts"
	if !q.From.IsZero() {
		name += "-" + q.From.Format("2006-01-02")
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name+".csv"))
	w.Header().Set("Cache-Control", "no-store")
	if err := WriteCSV(w, alerts, d.opt.Crossing); err != nil {
		d.opt.Log.Warn("export", "err", err)
	}
	d.opt.Log.Info("alerts exported", "user", s.user.User, "alerts", len(alerts))
}
