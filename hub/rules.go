package hub

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/cel-go/cel"
	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/reading"
)

//go:embed rules.default.yaml
var defaultRules []byte

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
	prg       cel.Program
	sumPrg    cel.Program
	clearPrg  cel.Program
	withPrg   cel.Program
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

func celEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("kind", cel.StringType),
		cel.Variable("box", cel.StringType),
		cel.Variable("device", cel.StringType),
		cel.Variable("driver", cel.StringType),
		cel.Variable("quality", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("payload", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("origin", cel.TimestampType),
		cel.Variable("historical", cel.BoolType),
	)
}

// compileRules parses and compiles a rules file. Every error names the file,
// the line and column, and the rule; nothing of a broken file is used.
func compileRules(name string, b []byte) (*ruleSet, error) {
	rules, err := parseRules(name, b)
	if err != nil {
		return nil, err
	}
	return &ruleSet{name: name, rules: rules, loaded: time.Now(), state: newRuleState(), reloaded: make(chan error, 1)}, nil
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
	r := &Rule{line: n.Line, col: n.Column}
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
	compile := func(key, src string, want *cel.Type) (cel.Program, error) {
		ast, iss := env.Compile(src)
		if iss.Err() != nil {
			return nil, fail(key, "%v", iss.Err())
		}
		// dyn (a payload field) is checked when it runs: a non-bool does not fire.
		if out := ast.OutputType(); !out.IsExactType(want) && !out.IsExactType(cel.DynType) {
			return nil, fail(key, "must be a %v expression, is %v", want, ast.OutputType())
		}
		prg, err := env.Program(ast)
		if err != nil {
			return nil, fail(key, "%v", err)
		}
		return prg, nil
	}
	var err error
	if r.prg, err = compile("when", r.When, cel.BoolType); err != nil {
		return nil, err
	}
	if r.SummaryExpr != "" {
		if r.sumPrg, err = compile("summary_expr", r.SummaryExpr, cel.StringType); err != nil {
			return nil, err
		}
	}
	if r.Clear != "" {
		if r.clearPrg, err = compile("clear", r.Clear, cel.BoolType); err != nil {
			return nil, err
		}
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
		if r.withPrg, err = env.Program(ast); err != nil {
			return nil, err
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
// state, so a latched fever alert stays latched across an edit.
type ruleSet struct {
	mu         sync.Mutex
	name       string // file, or the built-in name
	path       string // file to watch; "" for the built-in rules
	rules      []*Rule
	loaded     time.Time
	lastErr    string // why the latest reload was refused, "" if it was not
	state      *ruleState
	sink       alertSink
	suppressed atomic.Int64
	reloaded   chan error // one per reload attempt, for tests; never blocks
	fileStamp  string
	errs       ruleErrors // run-time evaluation failures (ruleerrors.go)
}

// alertSink records what happens to alerts already raised.
type alertSink interface {
	repeated(alertID string, ref contract.ReadingRef, at time.Time)
	cleared(alertID string, ref contract.ReadingRef, at time.Time)
}

type ruleState struct {
	until   map[string]held        // cooldown by rule|box|device (or rule|box)
	latched map[string]string      // rule|box|device -> alert id
	recent  map[string][]corrMatch // rule|box -> recent one-sided matches
}

type held struct {
	alertID string
	until   time.Time
}

type corrMatch struct {
	with   bool // matched Correlate.With (else When)
	ref    contract.ReadingRef
	origin time.Time
}

func newRuleState() *ruleState {
	return &ruleState{until: map[string]held{}, latched: map[string]string{}, recent: map[string][]corrMatch{}}
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
			rs.rules, rs.loaded, rs.lastErr = rules, time.Now(), ""
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

// evaluate runs every rule on one reading and returns the alerts raised.
// A rule that fails to evaluate (a field missing in this payload) does not fire.
func evaluate(rs *ruleSet, crossing string, r *reading.Reading, payload json.RawMessage, now time.Time) []contract.Alert {
	var p map[string]any
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil
	}
	vars := map[string]any{
		"kind": r.Kind(), "box": r.Box, "device": r.Device, "driver": r.Driver,
		"quality": map[string]string{"status": string(r.Quality.Status), "reason": r.Quality.Reason},
		"payload": p, "origin": r.Origin.UTC(), "historical": r.Historical,
	}
	ref := contract.ReadingRef{Box: r.Box, Device: r.Device, Seq: r.Seq}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	st := rs.state
	var out []contract.Alert
	raise := func(rule *Rule, refs []contract.ReadingRef) contract.Alert {
		a := contract.Alert{
			Schema: contract.AlertV1, ID: alertID(rule.ID, refs), Crossing: crossing,
			Box: r.Box, Device: r.Device, Rule: rule.ID, Severity: rule.Severity,
			Summary: rule.summary(vars), Time: r.Origin.UTC(), Raised: now.UTC(), State: "open",
			Readings: refs,
		}
		out = append(out, a)
		return a
	}
	repeat := func(id string) {
		rs.suppressed.Add(1)
		if rs.sink != nil {
			rs.sink.repeated(id, ref, now)
		}
	}
	for _, rule := range rs.rules {
		if rule.Correlate != nil {
			rs.correlate(rule, vars, r, ref, raise, repeat)
			continue
		}
		key := rule.ID + "\x00" + r.Box + "\x00" + r.Device
		if id, ok := st.latched[key]; ok {
			if rs.holds(rule, rule.clearPrg, vars) {
				delete(st.latched, key)
				if rs.sink != nil {
					rs.sink.cleared(id, ref, now)
				}
			} else if rs.holds(rule, rule.prg, vars) {
				repeat(id)
			}
			continue
		}
		if !rs.holds(rule, rule.prg, vars) {
			continue
		}
		if h, ok := st.until[key]; ok && r.Origin.Before(h.until) {
			repeat(h.alertID)
			continue
		}
		a := raise(rule, []contract.ReadingRef{ref})
		if rule.clearPrg != nil {
			st.latched[key] = a.ID
		}
		if rule.Cooldown > 0 {
			st.until[key] = held{alertID: a.ID, until: r.Origin.Add(time.Duration(rule.Cooldown))}
		}
	}
	return out
}

// correlate pairs this reading with a recent reading of another device of
// the same box that matched the other side of the rule. Each reading joins
// at most one alert of a rule.
func (rs *ruleSet) correlate(rule *Rule, vars map[string]any, r *reading.Reading, ref contract.ReadingRef,
	raise func(*Rule, []contract.ReadingRef) contract.Alert, repeat func(string)) {
	st := rs.state
	key := rule.ID + "\x00" + r.Box
	window := time.Duration(rule.Correlate.Window)
	recent := st.recent[key][:0:0]
	for _, m := range st.recent[key] {
		if r.Origin.Sub(m.origin) <= window && m.origin.Sub(r.Origin) <= window {
			recent = append(recent, m)
		}
	}
	for _, side := range []bool{false, true} {
		prg := rule.prg
		if side {
			prg = rule.withPrg
		}
		if !rs.holds(rule, prg, vars) {
			continue
		}
		best := -1
		for i, m := range recent {
			if m.with != side && m.ref.Device != r.Device &&
				(best < 0 || absDur(m.origin.Sub(r.Origin)) < absDur(recent[best].origin.Sub(r.Origin))) {
				best = i
			}
		}
		if best < 0 {
			recent = append(recent, corrMatch{with: side, ref: ref, origin: r.Origin})
			continue
		}
		partner := recent[best]
		recent = slices.Delete(recent, best, best+1)
		if h, ok := st.until[key]; ok && r.Origin.Before(h.until) {
			repeat(h.alertID)
			break
		}
		refs := []contract.ReadingRef{partner.ref, ref}
		if r.Origin.Before(partner.origin) {
			refs[0], refs[1] = ref, partner.ref
		}
		a := raise(rule, refs)
		if rule.Cooldown > 0 {
			st.until[key] = held{alertID: a.ID, until: r.Origin.Add(time.Duration(rule.Cooldown))}
		}
		break // one reading joins one alert of this rule
	}
	if len(recent) > 32 { // bound memory under a flood of one-sided matches
		recent = recent[len(recent)-32:]
	}
	st.recent[key] = recent
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func (rs *ruleSet) holds(rule *Rule, prg cel.Program, vars map[string]any) bool {
	if prg == nil {
		return false
	}
	v, _, err := prg.Eval(vars)
	if err != nil {
		rs.errs.record(rule.ID, err)
		return false
	}
	b, ok := v.Value().(bool)
	return ok && b
}

// summary is the rule's summary_expr result, or its static summary.
func (r *Rule) summary(vars map[string]any) string {
	if r.sumPrg != nil {
		if v, _, err := r.sumPrg.Eval(vars); err == nil {
			if s, ok := v.Value().(string); ok && s != "" {
				return s
			}
		}
	}
	if r.Summary == "" {
		return r.ID
	}
	return r.Summary
}

// alertID is derived from the rule and the readings, so a redelivered
// reading can never raise a second alert. A single-reading alert keeps the
// walking skeleton's derivation.
func alertID(rule string, refs []contract.ReadingRef) string {
	var b bytes.Buffer
	for i, ref := range refs {
		if i > 0 {
			b.WriteString("\x01")
		}
		b.WriteString(ref.Box + "\x00" + ref.Device + "\x00" + strconv.FormatUint(ref.Seq, 10))
	}
	h := sha256.Sum256([]byte(b.String() + "\x00" + rule))
	return hex.EncodeToString(h[:10])
}

// startRules connects the rules to the store and, for a rules file, starts
// watching it: a changed file is reloaded within a few seconds.
func (h *Hub) startRules() {
	rs := h.ingest.rules
	rs.mu.Lock()
	rs.sink = hubSink{h}
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
			case <-h.ingest.quit:
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
	err := h.ingest.rules.reload()
	if err != nil {
		h.log.Error("rules file refused; previous rules stay in force", "err", err)
	} else {
		h.log.Info("rules reloaded", "file", h.ingest.rules.name, "rules", len(h.ingest.rules.info().Rules))
	}
	h.live.send(event{Name: "rules", Data: []byte(`{}`)})
	return err
}

// Rules describes the rules in force.
func (h *Hub) Rules() RulesInfo { return h.ingest.rules.info() }

type hubSink struct{ h *Hub }

func (s hubSink) repeated(id string, ref contract.ReadingRef, at time.Time) {
	if err := s.h.store.logAlertAction(id, "repeated", "", "", "", ref, at); err != nil {
		s.h.log.Warn("alert repeat not stored", "id", id, "err", err)
	}
	s.h.live.send(event{Name: "alert-update", Data: []byte(`{}`)})
}

func (s hubSink) cleared(id string, ref contract.ReadingRef, at time.Time) {
	if err := s.h.store.logAlertAction(id, "cleared", "", "", "", ref, at); err != nil {
		s.h.log.Warn("alert clear not stored", "id", id, "err", err)
	}
	s.h.live.send(event{Name: "alert-update", Data: []byte(`{}`)})
}
