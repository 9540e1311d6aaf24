package hub

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kordon/kordon/internal/contract"
)

// modelCorrelate is correlation as docs/rules.md states it, on a slice
// copied at every change: the matches of one rule in one box, in arrival
// order, after one reading; and the partner it paired with, if any.
func modelCorrelate(ms []corrMatch, when, with bool, ref contract.ReadingRef, origin time.Time, window time.Duration) ([]corrMatch, *contract.ReadingRef) {
	var kept []corrMatch
	for _, c := range ms {
		if !c.origin.Before(origin.Add(-window)) {
			kept = append(kept, c)
		}
	}
	var partner *contract.ReadingRef
	for _, side := range []bool{false, true} {
		if side && !with || !side && !when {
			continue
		}
		best := -1
		for j, c := range kept {
			if c.with != side && c.ref.Device != ref.Device && absDur(c.origin.Sub(origin)) <= window &&
				(best < 0 || absDur(c.origin.Sub(origin)) < absDur(kept[best].origin.Sub(origin))) {
				best = j
			}
		}
		if best < 0 {
			kept = append(kept, corrMatch{with: side, ref: ref, origin: origin})
			continue
		}
		p := kept[best].ref
		partner = &p
		kept = append(kept[:best:best], kept[best+1:]...)
		break
	}
	if len(kept) > 32 {
		kept = kept[len(kept)-32:]
	}
	return kept, partner
}

// FuzzCorrelateModel drives the rules' state through batches and jobs,
// committed, dropped and begun beside each other, and compares every
// reading's partner with modelCorrelate's. Each 4 bytes are one step.
func FuzzCorrelateModel(f *testing.F) {
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 13))
		b := make([]byte, 4*600)
		for i := range b {
			b[i] = byte(rng.Uint32())
			if seed%2 == 1 && i%4 == 0 && b[i]%10 != 0 {
				b[i] = []byte{0, 1, 6, 7}[b[i]%4] // documents, that pile up
			}
		}
		f.Add(b)
	}
	compiled, err := compileRules("rules.yaml", []byte(corrRules))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, steps []byte) {
		rs := &testRules{ruleSet: compiled}
		compiled.state = newRuleState() // afresh for each input
		const window = 2 * time.Minute
		devices := []struct{ name, kind, payload string }{
			{"reader1", "document", `{"valid":true}`}, {"reader2", "document", `{"valid":true}`},
			{"trace1", "trace", `{"alarm":true}`}, {"trace2", "trace", `{"alarm":true}`},
			{"trace1", "trace", `{"alarm":false}`}, {"thermo1", "temperature", `{"celsius":36.6}`},
			{"reader1", "document", `{"valid":true}`}, {"reader2", "document", `{"valid":true}`},
		}
		var base, batchModel []corrMatch
		var batch *stateTx
		seqs := map[string]uint64{}
		clock := time.Duration(0)
		type input struct {
			dev    int
			at     time.Duration
			commit bool
		}
		run := func(st *stateTx, model []corrMatch, in input) []corrMatch {
			d := devices[in.dev]
			seqs[d.name]++
			seq := seqs[d.name]
			alerts := judgeIn(t, rs, st, d.name, seq, in.at, d.kind, d.payload)
			ref := contract.ReadingRef{Box: "booth-01", Device: d.name, Seq: seq}
			next, partner := modelCorrelate(model, d.kind == "document", d.kind == "trace" && d.payload == `{"alarm":true}`, ref, t0.Add(in.at), window)
			switch {
			case partner == nil && len(alerts) != 0:
				t.Fatalf("%s#%d at %v raised %+v, the model none", d.name, seq, in.at, alerts)
			case partner != nil && (len(alerts) != 1 || pairedWith(alerts[0], d.name) != *partner):
				t.Fatalf("%s#%d at %v raised %+v, the model one with %+v", d.name, seq, in.at, alerts, *partner)
			}
			return next
		}
		for i := 0; i+4 <= len(steps); i += 4 {
			s := steps[i : i+4]
			// Origins mostly move on; some readings come from a backlog,
			// some from a clock ahead.
			// Documents outnumber alarms, and many fall in one window:
			// enough to fill the 32 kept.
			delta := time.Duration(s[1]%32) * time.Second / 8
			switch s[2] % 16 {
			case 2, 3:
				delta = time.Duration(int8(s[1])) * time.Second
			case 0:
				delta = -time.Duration(s[3]) * time.Minute
			case 1:
				delta = time.Duration(s[3]) * time.Hour
			}
			clock += delta
			in := input{dev: int(s[0]) % len(devices), at: clock, commit: s[2]%5 != 0}
			if batch == nil {
				batch, batchModel = rs.state.begin(), base
			}
			if s[3]%7 == 0 { // two jobs beside each other; one commits
				a, b := batch.begin(), batch.begin()
				ma := run(a, batchModel, in)
				other := input{dev: int(s[3]) % len(devices), at: clock + time.Duration(s[1]%8)*time.Second}
				mb := run(b, batchModel, other)
				if in.commit {
					a.commit()
					batchModel = ma
				} else {
					b.commit()
					batchModel = mb
				}
			} else {
				job := batch.begin()
				next := run(job, batchModel, in)
				if in.commit {
					job.commit()
					batchModel = next
				}
			}
			if s[0]%9 == 0 { // the batch ends, committed or not
				if s[1]%4 != 0 {
					batch.commit()
					base = batchModel
				}
				batch = nil
			}
		}
	})
}

// TestLayerAgainstMap: a layer's gets, puts and removes, kept or merged
// down, are those of a map copied at each layer.
func TestLayerAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	base := map[string]int{}
	for round := range 2000 {
		under := newLayer(func(k string) (int, bool) { v, ok := base[k]; return v, ok })
		top := newLayer(under.get)
		model := map[string]int{}
		for k, v := range base {
			model[k] = v
		}
		for op := range 1 + rng.IntN(6) {
			k := string(rune('a' + rng.IntN(4)))
			switch rng.IntN(3) {
			case 0:
				top.put(k, round*10+op)
				model[k] = round*10 + op
			case 1:
				top.remove(k)
				delete(model, k)
			}
			for _, q := range []string{"a", "b", "c", "d"} {
				v, ok := top.get(q)
				w, wok := model[q]
				if ok != wok || v != w {
					t.Fatalf("round %d: get(%s) = %d, %v; want %d, %v", round, q, v, ok, w, wok)
				}
			}
		}
		if rng.IntN(4) == 0 {
			continue // dropped: base stays
		}
		top.mergeInto(under.put, under.remove)
		under.mergeInto(func(k string, v int) { base[k] = v }, func(k string) { delete(base, k) })
		if len(base) != len(model) {
			t.Fatalf("round %d: merged %v, want %v", round, base, model)
		}
		for k, v := range model {
			if base[k] != v {
				t.Fatalf("round %d: merged %v, want %v", round, base, model)
			}
		}
	}
}
