package hub

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/bits"
	"strconv"
	"strings"
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
	until   map[string]held         // cooldown by rule|box|device (or rule|box)
	latched map[string]string       // rule|box|device -> alert id
	recent  map[corrKey]corrPending // one-sided matches waiting for a partner
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

// corrKey names a correlation rule's matches in one box: a struct, not a
// joined string, so that the look-up every reading makes allocates nothing.
type corrKey struct{ rule, box string }

// corrPending is a box's waiting matches of a rule, in arrival order:
// those of buf.m[start:end] whose bit in gone is clear. States of several
// layers share one buf, and what a state covers is never written again,
// so a layer's view is a value: a match is appended in place only at the
// buf's end (where no other state reaches: see add), and one paired or
// expired is marked gone in the state's own mask. Only a full buf is
// copied: sparing the copy of up to 32 matches at every change of a
// box's matches is the point.
type corrPending struct {
	buf        *corrBuf
	start, end int       // end-start <= 64, the bits of gone
	gone       uint64    // bit k: buf.m[start+k] waits no more
	oldest     time.Time // the earliest origin among the waiting
}

type corrBuf struct{ m []corrMatch }

// at is the k-th match of the state's range, and whether it still waits.
func (p *corrPending) at(k int) (*corrMatch, bool) {
	return &p.buf.m[p.start+k], p.gone&(1<<k) == 0
}

func (p *corrPending) waiting() int {
	return p.end - p.start - bits.OnesCount64(p.gone)
}

func newRuleState() *ruleState {
	return &ruleState{until: map[string]held{}, latched: map[string]string{}, recent: map[corrKey]corrPending{}}
}

// layer is writes to one map of the state over the layer below. Its first
// key written is held in the layer itself, and its maps are made by the
// next write: most readings move no state, most that do move one key,
// and a job's layers are begun for every reading.
type layer[K comparable, V any] struct {
	under  func(K) (V, bool)
	one    K // written, unless in set or del; when hasOne
	oneV   V
	hasOne bool
	set    map[K]V
	del    map[K]bool
}

func newLayer[K comparable, V any](under func(K) (V, bool)) layer[K, V] {
	return layer[K, V]{under: under}
}

func (l *layer[K, V]) get(k K) (V, bool) {
	if l.hasOne && l.one == k {
		return l.oneV, true
	}
	if l.del[k] {
		var zero V
		return zero, false
	}
	if v, ok := l.set[k]; ok {
		return v, true
	}
	return l.under(k)
}

func (l *layer[K, V]) put(k K, v V) {
	delete(l.del, k)
	if l.hasOne && l.one == k {
		l.oneV = v
		return
	}
	if _, ok := l.set[k]; !ok && !l.hasOne {
		l.one, l.oneV, l.hasOne = k, v, true
		return
	}
	if l.set == nil {
		l.set = map[K]V{}
	}
	l.set[k] = v
}

func (l *layer[K, V]) remove(k K) {
	if l.hasOne && l.one == k {
		var zk K
		var zv V
		l.one, l.oneV, l.hasOne = zk, zv, false
	}
	delete(l.set, k)
	if l.del == nil {
		l.del = map[K]bool{}
	}
	l.del[k] = true
}

func (l *layer[K, V]) mergeInto(put func(K, V), remove func(K)) {
	for k := range l.del {
		remove(k)
	}
	for k, v := range l.set {
		put(k, v)
	}
	if l.hasOne {
		put(l.one, l.oneV)
	}
}

// stateTx is an uncommitted change of the rules' state: over the state
// itself (a batch), or over another stateTx (one job of a batch).
type stateTx struct {
	parent  *stateTx
	base    *ruleState
	until   layer[string, held]
	latched layer[string, string]
	recent  layer[corrKey, corrPending]
}

func (s *ruleState) begin() *stateTx {
	return &stateTx{base: s,
		until:   newLayer(func(k string) (held, bool) { v, ok := s.until[k]; return v, ok }),
		latched: newLayer(func(k string) (string, bool) { v, ok := s.latched[k]; return v, ok }),
		recent:  newLayer(func(k corrKey) (corrPending, bool) { v, ok := s.recent[k]; return v, ok }),
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
	t.recent.mergeInto(func(k corrKey, v corrPending) { s.recent[k] = v }, func(k corrKey) { delete(s.recent, k) })
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
// the same box that matched the other side of the rule, their origins
// within the window of each other. Each reading joins at most one alert of
// a rule.
//
// A match waits until the box sends a reading more than the window newer
// than it: from then on its partners could only be older readings still
// to come. Only the matches older than this reading's window expire: a
// reading older than those waiting (a backlog drained after an outage,
// two devices' readings out of origin order, a clock behind) leaves them
// for their partners, and one of a clock far ahead drops what a newer
// reading would, without holding back the readings after it. The state is
// in memory only: a hub restarted knows no match from before.
func correlate(m *matched, i int, st *stateTx, r *reading.Reading, ref contract.ReadingRef,
	raise func(int, []contract.ReadingRef) contract.Alert, change func(string, string)) {
	rule := m.rules[i]
	key := corrKey{rule.ID, r.Box}
	window := time.Duration(rule.Correlate.Window)
	lo, hi := r.Origin.Add(-window), r.Origin.Add(window)
	p, _ := st.recent.get(key)
	expires := p.end > p.start && p.oldest.Before(lo)
	if !m.when[i] && !m.with[i] && !expires {
		// A reading of neither side that finds none past the window
		// leaves the state as it is: most readings of a box, which then
		// neither copy nor scan its matches.
		return
	}
	if expires {
		for k := range p.end - p.start {
			if c, ok := p.at(k); ok && c.origin.Before(lo) {
				p.gone |= 1 << k
			}
		}
		p.drop(-1) // past the gone ones that lead, after the loop's indices
	}
	for _, side := range []bool{false, true} {
		ok := m.when[i]
		if side {
			ok = m.with[i]
		}
		if !ok {
			continue
		}
		// Every match left is at lo or after: hi bounds the other side.
		var partner *corrMatch
		best := -1
		for k := range p.end - p.start {
			c, ok := p.at(k)
			if ok && c.with != side && c.ref.Device != r.Device && !c.origin.After(hi) &&
				(partner == nil || absDur(c.origin.Sub(r.Origin)) < absDur(partner.origin.Sub(r.Origin))) {
				partner, best = c, k
			}
		}
		if partner == nil {
			p.add(corrMatch{with: side, ref: p.own(ref), origin: r.Origin})
			continue
		}
		p.drop(best)
		coolKey := rule.ID + "\x00" + r.Box
		if h, ok := st.until.get(coolKey); ok && r.Origin.Before(h.until) {
			change(h.alertID, "repeated")
			break
		}
		refs := []contract.ReadingRef{partner.ref, ref}
		if r.Origin.Before(partner.origin) {
			refs[0], refs[1] = ref, partner.ref
		}
		a := raise(i, refs)
		if rule.Cooldown > 0 {
			st.until.put(coolKey, held{alertID: a.ID, until: r.Origin.Add(time.Duration(rule.Cooldown))})
		}
		break // one reading joins one alert of this rule
	}
	for p.waiting() > 32 { // bound memory under a flood of one-sided matches
		p.drop(0) // the first is waiting: drop keeps it so
	}
	for k, first := 0, true; k < p.end-p.start; k++ {
		if c, ok := p.at(k); ok && (first || c.origin.Before(p.oldest)) {
			p.oldest, first = c.origin, false
		}
	}
	st.recent.put(key, p)
}

// own is ref with an incarnation that is not part of the message it was
// parsed from: the parser's strings share the message's bytes, and a
// match may wait long after the rest of its reading is gone (keeping the
// whole message, a document's personal data with it). A waiting match's
// equal string serves, else a copy: a box changes incarnation seldom.
func (p *corrPending) own(ref contract.ReadingRef) contract.ReadingRef {
	if ref.Incarnation == "" {
		return ref
	}
	for k := p.end - p.start - 1; k >= 0; k-- {
		if c, _ := p.at(k); c.ref.Incarnation == ref.Incarnation {
			ref.Incarnation = c.ref.Incarnation
			return ref
		}
	}
	ref.Incarnation = strings.Clone(ref.Incarnation)
	return ref
}

// drop marks the k-th match gone (none when k < 0), and moves the start
// past the gone ones that lead, so that the first of the range always
// waits.
func (p *corrPending) drop(k int) {
	if k >= 0 {
		p.gone |= 1 << k
	}
	for p.start < p.end && p.gone&1 != 0 {
		p.start++
		p.gone >>= 1
	}
}

// add puts c after the waiting matches. It writes in place only past the
// buf's last match, which no state covers (they all end at or before
// it); a state ending before that, or a full buf or range, gets a new
// buf of the waiting matches, with room to append again.
func (p *corrPending) add(c corrMatch) {
	if p.buf != nil && p.end == len(p.buf.m) && len(p.buf.m) < cap(p.buf.m) && p.end-p.start < 64 {
		p.buf.m = append(p.buf.m, c)
		p.end++
		return
	}
	m := make([]corrMatch, 0, p.waiting()+40)
	for k := range p.end - p.start {
		if c, ok := p.at(k); ok {
			m = append(m, *c)
		}
	}
	m = append(m, c)
	*p = corrPending{buf: &corrBuf{m}, end: len(m), oldest: p.oldest}
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
