// Package ops holds the monitoring of a crossing (Prometheus alert rules, a
// Grafana dashboard); its test checks them against promtool and against
// the metrics hubd and edged export.
package ops

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool missing: install the Debian package prometheus (scripts/deps.sh does)")
	}
	return p
}

// TestRulesCheckAndPassTheirTests: promtool accepts the rules file and its
// unit tests pass (an outage that should page does, a blip does not).
func TestRulesCheckAndPassTheirTests(t *testing.T) {
	pt := promtool(t)
	for _, args := range [][]string{{"check", "rules", "kordon.rules.yml"}, {"test", "rules", "kordon.rules.test.yml"}} {
		cmd := exec.Command(pt, args...)
		cmd.Dir = "prometheus"
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// exported lists the metric names hubd and edged define.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{"up": true}
	// hubd declares its metrics with client_golang; edged writes the text
	// format by hand (edge/metrics.go): either way each name is a string
	// literal in a metrics*.go file.
	re := regexp.MustCompile(`"((?:kordon|go|process)_[a-z_]+)"`)
	files, _ := filepath.Glob("../hub/metrics*.go")
	more, _ := filepath.Glob("../edge/metrics*.go")
	for _, f := range append(files, more...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			names[m[1]] = true
		}
	}
	if len(names) < 20 {
		t.Fatalf("found %d metrics in hub/metrics.go and edge/metrics.go; the pattern no longer matches", len(names))
	}
	return names
}

var metricName = regexp.MustCompile(`\b(kordon_[a-z_]+|up)\b`)

func checkNames(t *testing.T, where, expr string, names map[string]bool) {
	t.Helper()
	for _, m := range metricName.FindAllString(expr, -1) {
		if !names[m] {
			t.Errorf("%s: %s is not a metric hubd or edged exports (in %q)", where, m, expr)
		}
	}
}

// TestDashboardAndRulesNameRealMetrics: every metric the rules and the
// Grafana dashboard query exists, and the dashboard is a Grafana dashboard
// (JSON with a title, uid and panels that each query something).
func TestDashboardAndRulesNameRealMetrics(t *testing.T) {
	names := exported(t)
	rules, err := os.ReadFile("prometheus/kordon.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range regexp.MustCompile(`(?m)^\s+expr: (.+)$`).FindAllStringSubmatch(string(rules), -1) {
		checkNames(t, "kordon.rules.yml", m[1], names)
		n++
	}
	if n < 10 {
		t.Errorf("only %d rules found", n)
	}
	b, err := os.ReadFile("grafana/kordon.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title, UID string
		Panels     []struct {
			Title, Type string
			Targets     []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana/kordon.json: %v", err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) < 10 {
		t.Fatalf("grafana/kordon.json: title %q uid %q, %d panels", d.Title, d.UID, len(d.Panels))
	}
	used := map[string]bool{}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, q := range p.Targets {
			checkNames(t, "panel "+p.Title, q.Expr, names)
			for _, m := range metricName.FindAllString(q.Expr, -1) {
				used[m] = true
			}
		}
	}
	var unseen []string
	for _, m := range []string{"kordon_hub_box_online", "kordon_hub_device_up", "kordon_edge_outbox_records", "kordon_edge_hub_connected", "kordon_edge_readings_dropped_total", "kordon_hub_readings_lost_total"} {
		if !used[m] {
			unseen = append(unseen, m)
		}
	}
	sort.Strings(unseen)
	if len(unseen) > 0 {
		t.Errorf("the dashboard does not show %v", unseen)
	}
}
