package hub

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/cel-go/cel"
	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/reading"
)

//go:embed rules.default.yaml
var defaultRules []byte

// Rule raises an alert when its CEL expression holds for a reading.
// The expression sees: kind, box, device, driver (strings), quality
// (map: status, reason), payload (the kind's payload as a map).
type Rule struct {
	ID       string `yaml:"id"`
	When     string `yaml:"when"`
	Severity string `yaml:"severity"`
	Summary  string `yaml:"summary"` // must not contain personal data
	// SummaryExpr, optional, is a CEL string expression (same variables as
	// When) for summaries that name what was found, e.g. a substance; when it
	// fails or yields "", Summary is used. It must not yield personal data.
	SummaryExpr string `yaml:"summary_expr"`

	line   int
	prg    cel.Program
	sumPrg cel.Program
}

type ruleFile struct {
	Rules []Rule `yaml:"rules"`
}

var severities = map[string]bool{"info": true, "low": true, "medium": true, "high": true, "critical": true}

// compileRules parses and compiles a rules file; errors name the rule and
// the position in the file.
func compileRules(name string, b []byte) ([]Rule, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	var f ruleFile
	if err := root.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	env, err := cel.NewEnv(
		cel.Variable("kind", cel.StringType),
		cel.Variable("box", cel.StringType),
		cel.Variable("device", cel.StringType),
		cel.Variable("driver", cel.StringType),
		cel.Variable("quality", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("payload", cel.MapType(cel.StringType, cel.DynType)),
	)
	if err != nil {
		return nil, err
	}
	lines := ruleLines(&root)
	seen := map[string]bool{}
	for i := range f.Rules {
		r := &f.Rules[i]
		r.line = lines[i]
		at := fmt.Sprintf("%s:%d: rule %q", name, r.line, r.ID)
		if r.ID == "" || seen[r.ID] {
			return nil, fmt.Errorf("%s: id missing or repeated", at)
		}
		seen[r.ID] = true
		if !severities[r.Severity] {
			return nil, fmt.Errorf("%s: severity %q (info, low, medium, high, critical)", at, r.Severity)
		}
		ast, iss := env.Compile(r.When)
		if iss.Err() != nil {
			return nil, fmt.Errorf("%s: when: %v", at, iss.Err())
		}
		if ast.OutputType() != cel.BoolType {
			return nil, fmt.Errorf("%s: when: must be a boolean expression, is %v", at, ast.OutputType())
		}
		if r.prg, err = env.Program(ast); err != nil {
			return nil, fmt.Errorf("%s: %v", at, err)
		}
		if r.SummaryExpr != "" {
			sast, iss := env.Compile(r.SummaryExpr)
			if iss.Err() != nil {
				return nil, fmt.Errorf("%s: summary_expr: %v", at, iss.Err())
			}
			if sast.OutputType() != cel.StringType {
				return nil, fmt.Errorf("%s: summary_expr: must be a string expression, is %v", at, sast.OutputType())
			}
			if r.sumPrg, err = env.Program(sast); err != nil {
				return nil, fmt.Errorf("%s: summary_expr: %v", at, err)
			}
		}
	}
	return f.Rules, nil
}

func ruleLines(root *yaml.Node) []int {
	var out []int
	if len(root.Content) == 0 {
		return out
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "rules" {
			for _, r := range m.Content[i+1].Content {
				out = append(out, r.Line)
			}
		}
	}
	return out
}

// evaluate runs every rule on one reading and returns the alerts raised.
// A rule that fails to evaluate (a field missing in this payload) does not fire.
func evaluate(rules []Rule, crossing string, r *reading.Reading, payload json.RawMessage, now time.Time) []contract.Alert {
	var p map[string]any
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil
	}
	vars := map[string]any{
		"kind": r.Kind(), "box": r.Box, "device": r.Device, "driver": r.Driver,
		"quality": map[string]string{"status": string(r.Quality.Status), "reason": r.Quality.Reason},
		"payload": p,
	}
	var out []contract.Alert
	for _, rule := range rules {
		v, _, err := rule.prg.Eval(vars)
		if err != nil {
			continue
		}
		if fired, ok := v.Value().(bool); !ok || !fired {
			continue
		}
		out = append(out, contract.Alert{
			Schema: contract.AlertV1, ID: alertID(r, rule.ID), Crossing: crossing,
			Box: r.Box, Device: r.Device, Rule: rule.ID, Severity: rule.Severity,
			Summary: rule.summary(vars), Time: r.Origin.UTC(), Raised: now.UTC(), State: "open",
			Readings: []contract.ReadingRef{{Box: r.Box, Device: r.Device, Seq: r.Seq}},
		})
	}
	return out
}

// summary is the rule's summary_expr result, or its static summary.
func (r Rule) summary(vars map[string]any) string {
	if r.sumPrg != nil {
		if v, _, err := r.sumPrg.Eval(vars); err == nil {
			if s, ok := v.Value().(string); ok && s != "" {
				return s
			}
		}
	}
	return r.Summary
}

// alertID is derived from the reading and rule, so a redelivered reading
// can never raise a second alert.
func alertID(r *reading.Reading, rule string) string {
	h := sha256.Sum256([]byte(r.Box + "\x00" + r.Device + "\x00" + strconv.FormatUint(r.Seq, 10) + "\x00" + rule))
	return hex.EncodeToString(h[:10])
}
