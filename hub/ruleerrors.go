package hub

import (
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// ruleErrors keeps what rules failed to evaluate. A field missing from a
// payload (a rule written for another model's fields) is a quiet non-match
// by design; any other run-time error (a type mismatch, an overflow) means
// the rule cannot work as written: it is logged once per rule, counted, and
// shown with the rules on the dashboard.
type ruleErrors struct {
	log *slog.Logger // nil: not logged

	mu sync.Mutex
	m  map[string]*RuleError
}

// RuleError is one rule's run-time failures.
type RuleError struct {
	Count int64  `json:"count"`
	Last  string `json:"last"` // the CEL error; it names operators and types, never values
}

// quietEvalError: the payload simply has no such field.
func quietEvalError(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "no such key") || strings.HasPrefix(s, "no such attribute") ||
		strings.HasPrefix(s, "no such field")
}

func (e *ruleErrors) record(rule string, err error) {
	if quietEvalError(err) {
		return
	}
	msg := redactErr(err)
	e.mu.Lock()
	if e.m == nil {
		e.m = map[string]*RuleError{}
	}
	re := e.m[rule]
	first := re == nil
	if first {
		re = &RuleError{}
		e.m[rule] = re
	}
	re.Count++
	re.Last = msg
	e.mu.Unlock()
	if first && e.log != nil {
		e.log.Error("rule evaluation failed; the rule does not fire until fixed", "rule", rule, "err", msg)
	}
}

func (e *ruleErrors) reset() {
	e.mu.Lock()
	e.m = nil
	e.mu.Unlock()
}

func (e *ruleErrors) snapshot() map[string]RuleError {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.m) == 0 {
		return nil
	}
	out := make(map[string]RuleError, len(e.m))
	for k, v := range e.m {
		out[k] = *v
	}
	return out
}

var mRuleErrors = prometheus.NewDesc("kordon_hub_rule_errors_total",
	"Rule evaluations that failed at run time (not a missing field), by rule.", []string{"rule"}, nil)

func (e *ruleErrors) Describe(ch chan<- *prometheus.Desc) { ch <- mRuleErrors }

func (e *ruleErrors) Collect(ch chan<- prometheus.Metric) {
	snap := e.snapshot()
	rules := make([]string, 0, len(snap))
	for k := range snap {
		rules = append(rules, k)
	}
	sort.Strings(rules)
	for _, k := range rules {
		ch <- prometheus.MustNewConstMetric(mRuleErrors, prometheus.CounterValue, float64(snap[k].Count), k)
	}
}
