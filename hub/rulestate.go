package hub

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"time"

	"github.com/google/cel-go/cel"

	"github.com/kordon/kordon/hub/events"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/reading"
)

// Rules run in two steps. match evaluates every expression on one reading:
// it reads no state, so it runs on the publishing box's goroutine, beside
// other boxes'. decide then runs the state machine (cool-downs, latches,
// correlation) on the commit path, inside the transaction that stores the
// reading and its alerts, over a stateTx that counts only if that
// transaction commits: a reading refused for any reason leaves the rules
// as they were, and its resend is judged afresh.

// matched is what the expressions of the rules in force say about one reading.
type matched struct {
	rules             []*Rule
	when, clear, with []bool
	summary           []string // for rules whose when or with holds (nil when none does)
	set               *ruleSet
}

// match evaluates every rule's expressions. A rule that fails to evaluate
// (a field missing in this payload) does not hold.
func (rs *ruleSet) match(vars *ruleInput) *matched {
	m := &matched{}
	rs.matchInto(vars, m, nil)
	return m
}

// matchInto is match into m, its flags in buf when buf is large enough
// (the parsed reading holds both: match runs for every reading, and its
// verdict lives as long as the reading's job).
func (rs *ruleSet) matchInto(vars *ruleInput, m *matched, buf []bool) {
	rs.mu.Lock()
	rules, kinds := rs.rules, rs.kinds
	rs.mu.Unlock()
	n := len(rules)
	flags := buf[:0]
	if cap(buf) >= 3*n {
		flags = buf[:3*n]
		clear(flags)
	} else {
		flags = make([]bool, 3*n) // one allocation for the three
	}
	*m = matched{rules: rules, when: flags[:n:n], clear: flags[n : 2*n : 2*n], with: flags[2*n : 3*n : 3*n], set: rs}
	kind := vars.kind
	of, kindV := kinds.lookup(kind)
	if kindV != nil && vars.kindV == nil {
		vars.kindV = kindV // boxed once, for every reading of the kind
	}
	if len(of) > 0 && vars.adapter == nil {
		vars.adapter = rules[of[0]].adapter // the rules in force share their environment's
	}
	for _, i := range of { // the others admit no expression of this kind
		r := rules[i]
		// An expression of another kind is false without being run.
		m.when[i] = r.whenKind.admits(kind) && rs.holds(r, r.prg, vars)
		m.clear[i] = r.clearKind.admits(kind) && rs.holds(r, r.clearPrg, vars)
		m.with[i] = r.withKind.admits(kind) && rs.holds(r, r.withPrg, vars)
		if m.when[i] || m.with[i] {
			if m.summary == nil {
				m.summary = make([]string, n) // most readings raise nothing
			}
			m.summary[i] = r.summary(vars)
		}
	}
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

// layer is writes to one map of the state over the layer below. Its maps
// are made by its first write: most readings move no state, and a job's
// layers are begun for every reading.
type layer[V any] struct {
	under func(string) (V, bool)
	set   map[string]V
	del   map[string]bool
}

func newLayer[V any](under func(string) (V, bool)) layer[V] {
	return layer[V]{under: under}
}

func (l *layer[V]) get(k string) (V, bool) {
	if l.del[k] {
		var zero V
		return zero, false
	}
	if v, ok := l.set[k]; ok {
		return v, true
	}
	return l.under(k)
}

func (l *layer[V]) put(k string, v V) {
	delete(l.del, k)
	if l.set == nil {
		l.set = map[string]V{}
	}
	l.set[k] = v
}

func (l *layer[V]) remove(k string) {
	delete(l.set, k)
	if l.del == nil {
		l.del = map[string]bool{}
	}
	l.del[k] = true
}

func (l *layer[V]) mergeInto(put func(string, V), remove func(string)) {
	for k := range l.del {
		remove(k)
	}
	for k, v := range l.set {
		put(k, v)
	}
}

// stateTx is an uncommitted change of the rules' state: over the state
// itself (a batch), or over another stateTx (one job of a batch).
type stateTx struct {
	parent  *stateTx
	base    *ruleState
	until   layer[held]
	latched layer[string]
	recent  layer[[]corrMatch]
}

func (s *ruleState) begin() *stateTx {
	return &stateTx{base: s,
		until:   newLayer(func(k string) (held, bool) { v, ok := s.until[k]; return v, ok }),
		latched: newLayer(func(k string) (string, bool) { v, ok := s.latched[k]; return v, ok }),
		recent:  newLayer(func(k string) ([]corrMatch, bool) { v, ok := s.recent[k]; return v, ok }),
	}
}

func (t *stateTx) begin() *stateTx {
	return &stateTx{parent: t, until: newLayer(t.until.get), latched: newLayer(t.latched.get), recent: newLayer(t.recent.get)}
}

// commit moves the writes one layer down.
func (t *stateTx) commit() {
	if p := t.parent; p != nil {
		t.until.mergeInto(p.until.put, p.until.remove)
		t.latched.mergeInto(p.latched.put, p.latched.remove)
		t.recent.mergeInto(p.recent.put, p.recent.remove)
		return
	}
	s := t.base
	t.until.mergeInto(func(k string, v held) { s.until[k] = v }, func(k string) { delete(s.until, k) })
	t.latched.mergeInto(func(k string, v string) { s.latched[k] = v }, func(k string) { delete(s.latched, k) })
	t.recent.mergeInto(func(k string, v []corrMatch) { s.recent[k] = v }, func(k string) { delete(s.recent, k) })
}

// decide runs the rules' state machine for one stored reading: the alerts
// it raises and the changes (repeats, cleared conditions) of alerts
// already raised.
func decide(m *matched, st *stateTx, crossing string, r *reading.Reading, ref contract.ReadingRef, now time.Time) ([]contract.Alert, []events.Change) {
	var alerts []contract.Alert
	var changes []events.Change
	raise := func(i int, refs []contract.ReadingRef) contract.Alert {
		rule := m.rules[i]
		a := contract.Alert{
			Schema: contract.AlertV1, ID: alertID(crossing, rule.ID, refs, r.Origin), Crossing: crossing,
			Box: r.Box, Device: r.Device, Rule: rule.ID, Severity: rule.Severity,
			Summary: m.summary[i], Time: r.Origin.UTC(), Raised: now.UTC(), State: "open",
			Readings: refs,
		}
		alerts = append(alerts, a)
		return a
	}
	change := func(id, action string) {
		if action == "repeated" {
			m.set.suppressed.Add(1)
		}
		rr := ref
		changes = append(changes, events.Change{AlertID: id, Action: action, Time: now.UTC(), Ref: &rr})
	}
	for i, rule := range m.rules {
		if rule.Correlate != nil {
			correlate(m, i, st, r, ref, raise, change)
			continue
		}
		if !m.when[i] && !m.clear[i] {
			continue // neither raises, repeats nor clears: no state to look up
		}
		key := rule.ID + "\x00" + r.Box + "\x00" + r.Device
		if id, ok := st.latched.get(key); ok {
			if m.clear[i] {
				st.latched.remove(key)
				change(id, "cleared")
			} else if m.when[i] {
				change(id, "repeated")
			}
			continue
		}
		if !m.when[i] {
			continue
		}
		if h, ok := st.until.get(key); ok && r.Origin.Before(h.until) {
			change(h.alertID, "repeated")
			continue
		}
		a := raise(i, []contract.ReadingRef{ref})
		if rule.clearPrg != nil {
			st.latched.put(key, a.ID)
		}
		if rule.Cooldown > 0 {
			st.until.put(key, held{alertID: a.ID, until: r.Origin.Add(time.Duration(rule.Cooldown))})
		}
	}
	return alerts, changes
}

// correlate pairs this reading with a recent reading of another device of
// the same box that matched the other side of the rule. Each reading joins
// at most one alert of a rule.
func correlate(m *matched, i int, st *stateTx, r *reading.Reading, ref contract.ReadingRef,
	raise func(int, []contract.ReadingRef) contract.Alert, change func(string, string)) {
	rule := m.rules[i]
	key := rule.ID + "\x00" + r.Box
	window := time.Duration(rule.Correlate.Window)
	old, _ := st.recent.get(key)
	if len(old) == 0 && !m.when[i] && !m.with[i] {
		return // nothing to pair with, nothing to keep: the state stays as it is
	}
	// Within the window: r.Origin-window <= c.origin <= r.Origin+window.
	lo, hi := r.Origin.Add(-window), r.Origin.Add(window)
	within := func(c corrMatch) bool { return !c.origin.Before(lo) && !c.origin.After(hi) }
	if !m.when[i] && !m.with[i] && !slices.ContainsFunc(old, func(c corrMatch) bool { return !within(c) }) {
		// A reading of neither side that finds none past the window
		// leaves the state as it is: most readings of a box that keeps
		// one side's matches, spared copying them (at most 32 kept).
		return
	}
	recent := make([]corrMatch, 0, len(old)+1) // a new slice: the layer below keeps its own
	for _, c := range old {
		if within(c) {
			recent = append(recent, c)
		}
	}
	for _, side := range []bool{false, true} {
		ok := m.when[i]
		if side {
			ok = m.with[i]
		}
		if !ok {
			continue
		}
		best := -1
		for j, c := range recent {
			if c.with != side && c.ref.Device != r.Device &&
				(best < 0 || absDur(c.origin.Sub(r.Origin)) < absDur(recent[best].origin.Sub(r.Origin))) {
				best = j
			}
		}
		if best < 0 {
			recent = append(recent, corrMatch{with: side, ref: ref, origin: r.Origin})
			continue
		}
		partner := recent[best]
		recent = slices.Delete(recent, best, best+1)
		if h, ok := st.until.get(key); ok && r.Origin.Before(h.until) {
			change(h.alertID, "repeated")
			break
		}
		refs := []contract.ReadingRef{partner.ref, ref}
		if r.Origin.Before(partner.origin) {
			refs[0], refs[1] = ref, partner.ref
		}
		a := raise(i, refs)
		if rule.Cooldown > 0 {
			st.until.put(key, held{alertID: a.ID, until: r.Origin.Add(time.Duration(rule.Cooldown))})
		}
		break // one reading joins one alert of this rule
	}
	if len(recent) > 32 { // bound memory under a flood of one-sided matches
		recent = recent[len(recent)-32:]
	}
	st.recent.put(key, recent)
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// holds says whether one of rule's expressions is true of vars; a run-time
// failure is a non-match, recorded for the rule (ruleerrors.go).
func (rs *ruleSet) holds(rule *Rule, prg cel.Program, vars *ruleInput) bool {
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
func (r *Rule) summary(vars *ruleInput) string {
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

// alertID is derived from the crossing, the rule and the readings, so a
// redelivered reading can never raise a second alert, and two crossings'
// alerts never share an id (their exports are merged at the centre). It
// begins with the raising reading's origin (milliseconds, fixed-width
// hex), also given again by a redelivery, so that new alerts' ids follow
// the last ones: the alerts' key and the log's index on it then take each
// commit's alerts on their last page instead of one page per alert.
func alertID(crossing, rule string, refs []contract.ReadingRef, origin time.Time) string {
	var b bytes.Buffer
	b.WriteString(crossing + "\x02")
	for i, ref := range refs {
		if i > 0 {
			b.WriteString("\x01")
		}
		b.WriteString(ref.Box + "\x00" + ref.Device + "\x00" + ref.Incarnation + "\x00" + strconv.FormatUint(ref.Seq, 10))
	}
	h := sha256.Sum256([]byte(b.String() + "\x00" + rule))
	ms := min(max(origin.UnixMilli(), 0), 1<<48-1)
	var id [12 + 20]byte
	const digits = "0123456789abcdef"
	for i := 11; i >= 0; i-- {
		id[i] = digits[ms&15]
		ms >>= 4
	}
	hex.Encode(id[12:], h[:10])
	return string(id[:])
}
