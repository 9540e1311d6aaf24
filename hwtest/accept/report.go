package accept

import (
	"bytes"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Outcome of one step.
type Outcome string

const (
	Passed  Outcome = "pass"
	Failed  Outcome = "fail"
	Skipped Outcome = "skipped"
)

// Report is a commissioning report.
type Report struct {
	Plan         string
	Crossing     string
	Box          string
	Firmware     string
	Host         string
	Hub          string
	Config       string
	Started      time.Time
	Finished     time.Time
	Devices      []DeviceInfo
	Steps        []StepResult
	Traces       []string
	HubConnected bool
	OutboxBytes  int64
	Notes        []string
	Path         string // where the report was written
}

// DeviceInfo is one device of the booth.
type DeviceInfo struct {
	ID, Driver, Transport string
	Up                    bool
}

// StepResult is what one step came to.
type StepResult struct {
	N       int
	Prompt  string
	Device  string
	Within  time.Duration
	Outcome Outcome
	Detail  string
	Took    time.Duration
}

func (r *Report) setUp(id string, up bool) {
	for i := range r.Devices {
		if r.Devices[i].ID == id {
			r.Devices[i].Up = up
		}
	}
}

func (r *Report) count(o Outcome) int {
	n := 0
	for _, s := range r.Steps {
		if s.Outcome == o {
			n++
		}
	}
	return n
}

// Delivered says the box handed every reading to the hub.
func (r *Report) Delivered() bool { return r.HubConnected && r.OutboxBytes == 0 }

// Passed says the booth is commissioned: every device up, every step
// passed (none skipped), every reading delivered.
func (r *Report) Passed() bool {
	for _, d := range r.Devices {
		if !d.Up {
			return false
		}
	}
	return r.count(Passed) == len(r.Steps) && r.Delivered()
}

// Verdict is the report's one word.
func (r *Report) Verdict() string {
	if r.Passed() {
		return "ACCEPTED"
	}
	return "NOT ACCEPTED"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// Write writes the report as report.md or report.html into dir.
func (r *Report) Write(dir, format string) (string, error) {
	var b bytes.Buffer
	var name string
	switch format {
	case "", "md", "markdown":
		name = "report.md"
		r.markdown(&b)
	case "html":
		name = "report.html"
		if err := reportHTML.Execute(&b, r); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("report format %q: md or html", format)
	}
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, b.Bytes(), 0o644)
}

// mdCell keeps a table cell on one line and its pipes literal.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

func (r *Report) markdown(b *bytes.Buffer) {
	fmt.Fprintf(b, "# Commissioning report: %s/%s — %s\n\n", r.Crossing, r.Box, r.Verdict())
	fmt.Fprintf(b, "| | |\n|---|---|\n")
	fmt.Fprintf(b, "| Crossing | %s |\n| Box | %s |\n| Firmware | %s |\n| Host | %s |\n| Hub | %s |\n| Box config | %s |\n",
		mdCell(r.Crossing), mdCell(r.Box), mdCell(r.Firmware), mdCell(r.Host), mdCell(r.Hub), mdCell(r.Config))
	fmt.Fprintf(b, "| Plan | %s |\n| Started | %s |\n| Finished | %s |\n\n", mdCell(r.Plan), r.Started.UTC().Format(time.RFC3339), r.Finished.UTC().Format(time.RFC3339))
	fmt.Fprintf(b, "## Devices\n\n| Device | Driver | Transport | Came up |\n|---|---|---|---|\n")
	for _, d := range r.Devices {
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", mdCell(d.ID), mdCell(d.Driver), mdCell(d.Transport), yesNo(d.Up))
	}
	fmt.Fprintf(b, "\n## Steps\n\n| # | Step | Device | Deadline | Result | Took | Detail |\n|---|---|---|---|---|---|---|\n")
	for _, s := range r.Steps {
		took := ""
		if s.Took > 0 {
			took = s.Took.Round(time.Millisecond).String()
		}
		fmt.Fprintf(b, "| %d | %s | %s | %s | **%s** | %s | %s |\n", s.N, mdCell(s.Prompt), mdCell(s.Device), s.Within, strings.ToUpper(string(s.Outcome)), took, mdCell(s.Detail))
	}
	fmt.Fprintf(b, "\n## Delivery to the hub\n\nConnected: %s. Readings still in the outbox: %d bytes.\n", yesNo(r.HubConnected), r.OutboxBytes)
	fmt.Fprintf(b, "\n## Recorded traces\n\n")
	for _, t := range r.Traces {
		fmt.Fprintf(b, "- `%s`\n", t)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(b, "\nNote: %s\n", n)
	}
	fmt.Fprintf(b, "\nSummary: %d passed, %d failed, %d skipped of %d steps.\n", r.count(Passed), r.count(Failed), r.count(Skipped), len(r.Steps))
}

var reportHTML = template.Must(template.New("report").Funcs(template.FuncMap{
	"upper": func(o Outcome) string { return strings.ToUpper(string(o)) },
	"rfc":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"ms": func(d time.Duration) string {
		if d == 0 {
			return ""
		}
		return d.Round(time.Millisecond).String()
	},
	"yesno": yesNo,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Commissioning {{.Crossing}}/{{.Box}}</title>
<style>
body{font-family:sans-serif;margin:2em;max-width:70em}
table{border-collapse:collapse;margin-bottom:1.5em}
td,th{border:1px solid #999;padding:.3em .6em;text-align:left;vertical-align:top}
.pass{background:#d9f2d9}.fail{background:#f8d0d0}.skipped{background:#eee}
</style></head><body>
<h1>Commissioning report: {{.Crossing}}/{{.Box}} — {{.Verdict}}</h1>
<table>
<tr><th>Crossing</th><td>{{.Crossing}}</td></tr>
<tr><th>Box</th><td>{{.Box}}</td></tr>
<tr><th>Firmware</th><td>{{.Firmware}}</td></tr>
<tr><th>Host</th><td>{{.Host}}</td></tr>
<tr><th>Hub</th><td>{{.Hub}}</td></tr>
<tr><th>Box config</th><td>{{.Config}}</td></tr>
<tr><th>Plan</th><td>{{.Plan}}</td></tr>
<tr><th>Started</th><td>{{rfc .Started}}</td></tr>
<tr><th>Finished</th><td>{{rfc .Finished}}</td></tr>
</table>
<h2>Devices</h2>
<table><tr><th>Device</th><th>Driver</th><th>Transport</th><th>Came up</th></tr>
{{range .Devices}}<tr><td>{{.ID}}</td><td>{{.Driver}}</td><td>{{.Transport}}</td><td>{{yesno .Up}}</td></tr>
{{end}}</table>
<h2>Steps</h2>
<table><tr><th>#</th><th>Step</th><th>Device</th><th>Deadline</th><th>Result</th><th>Took</th><th>Detail</th></tr>
{{range .Steps}}<tr class="{{.Outcome}}"><td>{{.N}}</td><td>{{.Prompt}}</td><td>{{.Device}}</td><td>{{.Within}}</td><td><b>{{upper .Outcome}}</b></td><td>{{ms .Took}}</td><td>{{.Detail}}</td></tr>
{{end}}</table>
<h2>Delivery to the hub</h2>
<p>Connected: {{yesno .HubConnected}}. Readings still in the outbox: {{.OutboxBytes}} bytes.</p>
<h2>Recorded traces</h2>
<ul>{{range .Traces}}<li><code>{{.}}</code></li>{{end}}</ul>
{{range .Notes}}<p>Note: {{.}}</p>{{end}}
</body></html>
`))
