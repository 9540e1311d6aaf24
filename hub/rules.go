package hub

import (
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/drivers"
	"github.com/kordon/kordon/internal/actuator"
)

// DefaultRulesName is what the rules in force are called when no rules file
// is configured: every family's own rules.yaml.
const DefaultRulesName = "built-in (drivers/*/rules.yaml)"

// defaultRules compiles the rules each device family ships in its folder
// (drivers/<family>/rules.yaml), the hub's rules when no rules file is
// configured. An error names the family's file, line and rule; one rule id
// in two families is refused.
func defaultRules() (*ruleSet, error) {
	fams, err := drivers.Families()
	if err != nil {
		return nil, err
	}
	var all []*Rule
	from := map[string]string{}
	for _, f := range fams {
		if f.Rules == nil {
			continue
		}
		name := "drivers/" + f.Name + "/rules.yaml"
		rules, err := parseRules(name, f.Rules)
		if err != nil {
			return nil, err
		}
		for _, r := range rules {
			if prev, dup := from[r.ID]; dup {
				return nil, fmt.Errorf("%s:%d:%d: rule %q: id also in %s", name, r.line, r.col, r.ID, prev)
			}
			from[r.ID] = name
		}
		all = append(all, rules...)
	}
	return newRuleSet(DefaultRulesName, all), nil
}

// Rule raises an alert when its CEL expression holds for a reading
// (docs/rules.md). The expressions see: kind, box, device, driver (strings),
// quality (map: status, reason), payload (the kind's payload as a map),
// origin (timestamp of the reading's first byte) and historical (bool).
type Rule struct {
	ID       string `yaml:"id"`
	When     string `yaml:"when"`
	Severity string `yaml:"severity"`
	Summary  string `yaml:"summary"` // must not contain personal data
	// SummaryExpr, optional, is a CEL string expression (same variables as
	// When) for summaries that name what was found, e.g. a substance; when it
	// fails or yields "", Summary is used. It must not yield personal data.
	SummaryExpr string `yaml:"summary_expr"`
	// Cooldown, optional: after the rule raised an alert for a device, more
	// matches from that device within this time (by reading origin) raise no
	// new alert; they are counted on the first one as repeats.
	Cooldown Duration `yaml:"cooldown"`
	// Clear, optional: a raised alert latches until a reading of the same
	// device satisfies Clear; matches meanwhile are repeats, and the alert
	// is marked "condition cleared" when Clear holds.
	Clear string `yaml:"clear"`
	// Correlate, optional: the rule fires only when a reading satisfying
	// When and one satisfying Correlate.With come from two different devices
	// of one box within Correlate.Window; the alert links both readings.
	Correlate *Correlation `yaml:"correlate"`

	line, col int
	adapter   types.Adapter // its environment's (celAdapter)
	prg       cel.Program
	sumPrg    cel.Program
	clearPrg  cel.Program
	withPrg   cel.Program
	// the kinds when, clear and correlate.with require (rulekind.go)
	whenKind, clearKind, withKind kindGate
}

// Correlation pairs readings of two devices of one booth.
type Correlation struct {
	With   string   `yaml:"with"`
	Window Duration `yaml:"window"`
}

// Duration is a YAML duration such as "90s" or "5m".
type Duration time.Duration

// UnmarshalYAML parses a Go duration and rejects negatives.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return &posError{line: n.Line, col: n.Column, msg: fmt.Sprintf("%q is not a duration (e.g. 90s, 5m)", n.Value)}
	}
	*d = Duration(v)
	return nil
}

type posError struct {
	line, col int
	msg       string
}

func (e *posError) Error() string { return e.msg }

var severities = map[string]bool{"info": true, "low": true, "medium": true, "high": true, "critical": true}

// ruleKeys are the YAML keys a rule may have, from Rule's tags, so a field
// another engineer adds to Rule is accepted without touching the check.
var ruleKeys = func() map[string]bool {
	m := map[string]bool{}
	t := reflect.TypeOf(Rule{})
	for i := 0; i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			m[name] = true
		}
	}
	return m
}()

// celEnv declares the variables ruleInput resolves, and converts the
// payload's values with celAdapter.
func celEnv() (*cel.Env, error) {
	env, err := cel.NewEnv(actuator.Variables()...)
	if err != nil {
		return nil, err
	}
	return env.Extend(cel.CustomTypeAdapter(newCELAdapter(env.CELTypeAdapter())))
}

// compileRules parses and compiles a rules file. Every error names the file,
// the line and column, and the rule; nothing of a broken file is used.
func compileRules(name string, b []byte) (*ruleSet, error) {
	rules, err := parseRules(name, b)
	if err != nil {
		return nil, err
	}
	return newRuleSet(name, rules), nil
}

func newRuleSet(name string, rules []*Rule) *ruleSet {
	return &ruleSet{name: name, rules: rules, kinds: newKindIndex(rules), loaded: time.Now(), state: newRuleState(), reloaded: make(chan error, 1)}
}

func parseRules(name string, b []byte) ([]*Rule, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("%s: %v", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%s: empty file (want a \"rules:\" list)", name)
	}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d:%d: want a mapping with a \"rules:\" list", name, top.Line, top.Column)
	}
	var list *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		k := top.Content[i]
		if k.Value != "rules" {
			return nil, fmt.Errorf("%s:%d:%d: unknown key %q (only \"rules\")", name, k.Line, k.Column, k.Value)
		}
		list = top.Content[i+1]
	}
	if list == nil || list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s:%d:%d: \"rules\" must be a list", name, top.Line, top.Column)
	}
	env, err := celEnv()
	if err != nil {
		return nil, err
	}
	var out []*Rule
	seen := map[string]int{}
	for i, n := range list.Content {
		r, err := compileRule(env, n)
		if err != nil {
			at := fmt.Sprintf("rule #%d", i+1)
			if id := nodeKey(n, "id"); id != nil && id.Value != "" {
				at = fmt.Sprintf("rule %q", id.Value)
			}
			if pe, ok := err.(*posError); ok {
				return nil, fmt.Errorf("%s:%d:%d: %s: %s", name, pe.line, pe.col, at, pe.msg)
			}
			return nil, fmt.Errorf("%s:%d:%d: %s: %v", name, n.Line, n.Column, at, err)
		}
		if first, dup := seen[r.ID]; dup {
			return nil, fmt.Errorf("%s:%d:%d: rule %q: id repeated (first at line %d)", name, r.line, r.col, r.ID, first)
		}
		seen[r.ID] = r.line
		out = append(out, r)
	}
	return out, nil
}

func nodeKey(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// compileRule checks one rule node; errors carry the position of the
// offending value where there is one.
func compileRule(env *cel.Env, n *yaml.Node) (*Rule, error) {
	if n.Kind != yaml.MappingNode {
		return nil, &posError{n.Line, n.Column, "a rule must be a mapping (id, when, severity, summary, ...)"}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !ruleKeys[k.Value] {
			return nil, &posError{k.Line, k.Column, fmt.Sprintf("unknown field %q (known: %s)", k.Value, keyList())}
		}
	}
	r := &Rule{line: n.Line, col: n.Column, adapter: env.CELTypeAdapter()}
	if err := n.Decode(r); err != nil {
		if te, ok := err.(*yaml.TypeError); ok {
			return nil, fmt.Errorf("%s", strings.Join(te.Errors, "; "))
		}
		return nil, err
	}
	pos := func(key string) (int, int) {
		if v := nodeKey(n, key); v != nil {
			return v.Line, v.Column
		}
		return n.Line, n.Column
	}
	fail := func(key, format string, args ...any) error {
		l, c := pos(key)
		return &posError{l, c, key + ": " + fmt.Sprintf(format, args...)}
	}
	if r.ID == "" {
		return nil, fail("id", "missing")
	}
	if strings.TrimSpace(r.When) == "" {
		return nil, fail("when", "missing (a CEL boolean expression)")
	}
	if !severities[r.Severity] {
		return nil, fail("severity", "%q is not one of info, low, medium, high, critical", r.Severity)
	}
	var gate kindGate // the kinds the last compiled expression admits
	compile := func(key, src string, want *cel.Type) (cel.Program, error) {
		ast, iss := env.Compile(src)
		if iss.Err() != nil {
			return nil, fail(key, "%v", iss.Err())
		}
		// dyn (a payload field) is checked when it runs: a non-bool does not fire.
		if out := ast.OutputType(); !out.IsExactType(want) && !out.IsExactType(cel.DynType) {
			return nil, fail(key, "must be a %v expression, is %v", want, ast.OutputType())
		}
		prg, err := program(env, ast)
		if err != nil {
			return nil, fail(key, "%v", err)
		}
		gate = requiredKind(ast)
		if g := gatedProgram(env, ast); g != nil && key != "summary_expr" {
			prg = g // match runs it only for the kinds its gate admits
		}
		return prg, nil
	}
	var err error
	if r.prg, err = compile("when", r.When, cel.BoolType); err != nil {
		return nil, err
	}
	r.whenKind = gate
	if r.SummaryExpr != "" {
		if r.sumPrg, err = compile("summary_expr", r.SummaryExpr, cel.StringType); err != nil {
			return nil, err
		}
	}
	if r.Clear != "" {
		if r.clearPrg, err = compile("clear", r.Clear, cel.BoolType); err != nil {
			return nil, err
		}
		r.clearKind = gate
	}
	if c := r.Correlate; c != nil {
		cn := nodeKey(n, "correlate")
		at := func(key string) (int, int) {
			if v := nodeKey(cn, key); v != nil {
				return v.Line, v.Column
			}
			return cn.Line, cn.Column
		}
		if c.With == "" {
			l, col := at("with")
			return nil, &posError{l, col, "correlate.with: missing (a CEL boolean expression for the other device's reading)"}
		}
		if c.Window <= 0 {
			l, col := at("window")
			return nil, &posError{l, col, "correlate.window: missing or zero (e.g. 2m)"}
		}
		ast, iss := env.Compile(c.With)
		if iss.Err() != nil || !(ast.OutputType().IsExactType(cel.BoolType) || ast.OutputType().IsExactType(cel.DynType)) {
			l, col := at("with")
			msg := "must be a bool expression"
			if iss.Err() != nil {
				msg = iss.Err().Error()
			}
			return nil, &posError{l, col, "correlate.with: " + msg}
		}
		if r.withPrg, err = program(env, ast); err != nil {
			return nil, err
		}
		r.withKind = requiredKind(ast)
		if g := gatedProgram(env, ast); g != nil {
			r.withPrg = g
		}
		if r.Clear != "" {
			return nil, fail("clear", "cannot be combined with correlate")
		}
	}
	return r, nil
}

func keyList() string {
	var ks []string
	for k := range ruleKeys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

// ruleSet is the rules in force and the state they keep (cool-downs,
// latches, correlation windows). A reload swaps the rules and keeps the
// state, so a latched fever alert stays latched across an edit. The state
// is read and moved only by the commit path (pipeline.go), and a move
// counts only once its transaction has committed (rulestate.go).
type ruleSet struct {
	mu         sync.Mutex // guards the fields below up to state
	name       string     // file, or the built-in name
	path       string     // file to watch; "" for the built-in rules
	rules      []*Rule
	kinds      *kindIndex // of rules
	loaded     time.Time
	lastErr    string // why the latest reload was refused, "" if it was not
	state      *ruleState
	suppressed atomic.Int64
	reloaded   chan error // one per reload attempt, for tests; never blocks
	fileStamp  string
	errs       ruleErrors // run-time evaluation failures (ruleerrors.go)
}

// reload reads the file again; a broken file is refused and the rules in
// force stay.
func (rs *ruleSet) reload() error {
	if rs.path == "" {
		return nil
	}
	b, err := os.ReadFile(rs.path)
	if err == nil {
		var rules []*Rule
		if rules, err = parseRules(rs.path, b); err == nil {
			rs.mu.Lock()
			rs.rules, rs.kinds, rs.loaded, rs.lastErr = rules, newKindIndex(rules), time.Now(), ""
			rs.errs.reset() // new rules: report their own failures afresh
			rs.mu.Unlock()
		}
	}
	if err != nil {
		rs.mu.Lock()
		rs.lastErr = err.Error()
		rs.mu.Unlock()
	}
	select {
	case rs.reloaded <- err:
	default:
	}
	return err
}

// stamp identifies a version of the rules file cheaply (size and mtime).
func (rs *ruleSet) stamp() string {
	fi, err := os.Stat(rs.path)
	if err != nil {
		return "missing"
	}
	return fmt.Sprintf("%d/%d", fi.Size(), fi.ModTime().UnixNano())
}

// RulesInfo is what the dashboard shows about the rules in force.
type RulesInfo struct {
	File   string    `json:"file"`
	Loaded time.Time `json:"loaded"`
	Rules  []string  `json:"rules"`
	// Severity is each rule's severity by id (the dashboard's rules list).
	Severity   map[string]string `json:"severity"`
	LastError  string            `json:"last_error,omitempty"`
	Suppressed int64             `json:"suppressed"`
	// Errors are rules that failed at run time, by rule id (ruleerrors.go).
	Errors map[string]RuleError `json:"errors,omitempty"`
}

func (rs *ruleSet) info() RulesInfo {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	ri := RulesInfo{File: rs.name, Loaded: rs.loaded, LastError: rs.lastErr, Suppressed: rs.suppressed.Load(), Severity: map[string]string{}, Errors: rs.errs.snapshot()}
	for _, r := range rs.rules {
		ri.Rules = append(ri.Rules, r.ID)
		ri.Severity[r.ID] = r.Severity
	}
	return ri
}

// startRules starts watching the rules file, if there is one: a changed
// file is reloaded within a few seconds.
func (h *Hub) startRules() {
	rs := h.rules
	rs.mu.Lock()
	if h.cfg.Rules != "" {
		rs.path = h.cfg.Rules
		rs.fileStamp = rs.stamp()
	}
	rs.mu.Unlock()
	if rs.path == "" {
		return
	}
	go func() {
		// A stat every two seconds is cheap and works on every filesystem,
		// including bind mounts where inotify events do not arrive.
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-h.quit:
				return
			case <-t.C:
				if s := rs.stamp(); s != rs.fileStamp {
					rs.fileStamp = s
					h.reloadRules()
				}
			}
		}
	}()
}

// ReloadRules reads the rules file again now (hubd wires it to SIGHUP). A
// broken file is refused, with an error naming the rule and position, and
// the rules in force stay.
func (h *Hub) ReloadRules() error { return h.reloadRules() }

func (h *Hub) reloadRules() error {
	err := h.rules.reload()
	if err != nil {
		h.log.Error("rules file refused; previous rules stay in force", "err", err)
	} else {
		h.log.Info("rules reloaded", "file", h.rules.name, "rules", len(h.rules.info().Rules))
	}
	h.live.send(event{Name: "rules", Data: []byte(`{}`)})
	return err
}

// Rules describes the rules in force.
func (h *Hub) Rules() RulesInfo { return h.rules.info() }

// RuleKind is a compiled rule's id and the reading kind its when requires
// ("" when it admits every kind, or more than one).
type RuleKind struct{ ID, Kind string }

// CheckRules compiles a rules file as the hub would load it and returns
// its rules, or the first mistake at its file:line:column (for the
// families' conformance test and tools).
func CheckRules(name string, b []byte) ([]RuleKind, error) {
	rules, err := parseRules(name, b)
	var out []RuleKind
	for _, r := range rules {
		out = append(out, RuleKind{ID: r.ID, Kind: r.whenKind.only()})
	}
	return out, err
}

// DefaultRuleIDs compiles the families' rules together, as the hub runs
// them when no rules file is configured, and returns their ids.
func DefaultRuleIDs() ([]string, error) {
	rs, err := defaultRules()
	if err != nil {
		return nil, err
	}
	return rs.info().Rules, nil
}
