// Package wirefault injects wire faults into a trace before it is replayed:
// corrupt, drop or delay device bytes, unplug the device mid-frame, or stall
// it. Faults rewrite a copy of the trace, so a faulty replay is itself a
// trace that can be saved, read and replayed again.
package wirefault

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kordon/kordon/hwtest/trace"
)

// Fault is one injected fault. Its position is a device byte: the byte at
// offset Byte of the device->host stream, counted from the first device
// byte sent at or after trace time At.
type Fault struct {
	Kind  string        `yaml:"kind"`  // corrupt | drop | delay | stall | unplug
	At    time.Duration `yaml:"at"`    // trace time the byte count starts from (default 0)
	Byte  int           `yaml:"byte"`  // device byte offset from At
	Count int           `yaml:"count"` // corrupt, drop: how many bytes (default 1)
	// For is how long: delay (the bytes from the position on arrive this much
	// later), stall (the device sends nothing for this long; 0 = never again),
	// unplug (replugged after this long; 0 = never).
	For time.Duration `yaml:"for"`
	// Rate, for corrupt and drop, hits each device byte with this
	// probability instead of one position (Seed makes it repeatable).
	Rate float64 `yaml:"rate"`
	Seed uint64  `yaml:"seed"`
}

func (f Fault) String() string {
	var b strings.Builder
	b.WriteString(f.Kind)
	if f.Rate > 0 {
		fmt.Fprintf(&b, " rate=%g seed=%d", f.Rate, f.Seed)
	} else {
		if f.At > 0 {
			fmt.Fprintf(&b, " at=%s", f.At)
		}
		fmt.Fprintf(&b, " byte=%d", f.Byte)
	}
	if f.Count > 1 {
		fmt.Fprintf(&b, " count=%d", f.Count)
	}
	if f.For > 0 {
		fmt.Fprintf(&b, " for=%s", f.For)
	}
	return b.String()
}

// Validate checks a fault's fields.
func (f Fault) Validate() error {
	switch f.Kind {
	case "corrupt", "drop":
		if f.Rate < 0 || f.Rate > 1 {
			return fmt.Errorf("%s: rate %g: want 0 to 1", f.Kind, f.Rate)
		}
	case "delay":
		if f.For <= 0 {
			return fmt.Errorf("delay: for must be positive")
		}
	case "stall", "unplug":
	case "":
		return fmt.Errorf("fault kind missing (corrupt, drop, delay, stall, unplug)")
	default:
		return fmt.Errorf("unknown fault %q (corrupt, drop, delay, stall, unplug)", f.Kind)
	}
	if f.Rate > 0 && f.Kind != "corrupt" && f.Kind != "drop" {
		return fmt.Errorf("%s: rate applies to corrupt and drop only", f.Kind)
	}
	if f.Byte < 0 || f.Count < 0 || f.At < 0 || f.For < 0 {
		return fmt.Errorf("%s: negative position, count or duration", f.Kind)
	}
	return nil
}

// Parse reads a fault written as "KIND key=value...", for example
// "unplug byte=30 for=1s" or "corrupt rate=0.001 seed=7".
func Parse(s string) (Fault, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return Fault{}, fmt.Errorf("empty fault")
	}
	f := Fault{Kind: fields[0]}
	for _, kv := range fields[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return Fault{}, fmt.Errorf("fault %q: %q is not key=value", s, kv)
		}
		var err error
		switch k {
		case "at":
			f.At, err = time.ParseDuration(v)
		case "byte":
			f.Byte, err = strconv.Atoi(v)
		case "count":
			f.Count, err = strconv.Atoi(v)
		case "for":
			f.For, err = time.ParseDuration(v)
		case "rate":
			f.Rate, err = strconv.ParseFloat(v, 64)
		case "seed":
			f.Seed, err = strconv.ParseUint(v, 10, 64)
		default:
			return Fault{}, fmt.Errorf("fault %q: unknown key %q (at, byte, count, for, rate, seed)", s, k)
		}
		if err != nil {
			return Fault{}, fmt.Errorf("fault %q: %s: %v", s, k, err)
		}
	}
	return f, f.Validate()
}

// Apply returns a copy of t with the faults applied in order. The header
// note lists them, so a saved faulty trace says what was done to it.
func Apply(t *trace.Trace, fs []Fault) (*trace.Trace, error) {
	out := &trace.Trace{Header: t.Header, Events: cloneEvents(t.Events)}
	var names []string
	for _, f := range fs {
		if err := f.Validate(); err != nil {
			return nil, err
		}
		var err error
		if f.Rate > 0 {
			out.Events = applyRate(out.Events, f)
		} else if out.Events, err = applyAt(out.Events, f); err != nil {
			return nil, err
		}
		names = append(names, f.String())
	}
	if len(names) > 0 {
		note := "faults: " + strings.Join(names, "; ")
		if out.Header.Note != "" {
			note = out.Header.Note + " | " + note
		}
		out.Header.Note = note
	}
	return out, nil
}

func cloneEvents(es []trace.Event) []trace.Event {
	out := make([]trace.Event, len(es))
	for i, e := range es {
		e.Dev = append([]byte(nil), e.Dev...)
		if len(e.Dev) == 0 {
			e.Dev = nil
		}
		out[i] = e
	}
	return out
}

// locate finds the event holding the fault's byte and the offset inside it.
func locate(es []trace.Event, f Fault) (ev, off int, err error) {
	left := f.Byte
	for i, e := range es {
		if e.T < f.At || len(e.Dev) == 0 {
			continue
		}
		if left < len(e.Dev) {
			return i, left, nil
		}
		left -= len(e.Dev)
	}
	return 0, 0, fmt.Errorf("%s: the trace has fewer than %d device bytes after %s", f, f.Byte+1, f.At)
}

// split cuts event i at byte off so that the position starts an event of
// its own, and returns that event's index.
func split(es []trace.Event, i, off int) ([]trace.Event, int) {
	if off == 0 {
		return es, i
	}
	e := es[i]
	head, tail := e, trace.Event{T: e.T, Dev: e.Dev[off:]}
	head.Dev = e.Dev[:off:off]
	es = append(es[:i+1], es[i:]...)
	es[i], es[i+1] = head, tail
	return es, i + 1
}

func shift(es []trace.Event, from int, d time.Duration) {
	for j := from; j < len(es); j++ {
		es[j].T += d
	}
}

func applyAt(es []trace.Event, f Fault) ([]trace.Event, error) {
	i, off, err := locate(es, f)
	if err != nil {
		return nil, err
	}
	count := max(f.Count, 1)
	switch f.Kind {
	case "corrupt":
		for n := 0; n < count && i < len(es); {
			for ; off < len(es[i].Dev) && n < count; off, n = off+1, n+1 {
				es[i].Dev[off] ^= 0x55 // always a different byte
			}
			i, off = nextDev(es, i), 0
		}
	case "drop":
		for n := 0; n < count && i < len(es); {
			k := min(count-n, len(es[i].Dev)-off)
			es[i].Dev = append(es[i].Dev[:off:off], es[i].Dev[off+k:]...)
			n += k
			i, off = nextDev(es, i), 0
		}
	case "delay":
		es, i = split(es, i, off)
		shift(es, i, f.For)
	case "stall":
		es, i = split(es, i, off)
		from := es[i].T
		for j := i; j < len(es); j++ {
			if f.For == 0 || es[j].T < from+f.For {
				es[j].Dev = nil // a hung device's bytes never come
			}
		}
		es = append(es[:i], append([]trace.Event{{T: from, Note: "fault: device stalls"}}, es[i:]...)...)
	case "unplug":
		es, i = split(es, i, off)
		at := es[i].T
		ins := []trace.Event{{T: at, Unplug: true, Note: "fault: unplugged"}}
		if f.For > 0 {
			ins = append(ins, trace.Event{T: at + f.For, Replug: true})
			shift(es, i, f.For)
		} else {
			es = es[:i] // nothing more arrives from a device that never comes back
		}
		es = append(es[:i], append(ins, es[i:]...)...)
	}
	return dropEmpty(es), nil
}

func nextDev(es []trace.Event, i int) int {
	for j := i + 1; j < len(es); j++ {
		if len(es[j].Dev) > 0 {
			return j
		}
	}
	return len(es)
}

func applyRate(es []trace.Event, f Fault) []trace.Event {
	rng := rand.New(rand.NewPCG(f.Seed, 0x6b6f72646f6e))
	for i := range es {
		if len(es[i].Dev) == 0 {
			continue
		}
		var kept []byte
		for _, c := range es[i].Dev {
			hit := rng.Float64() < f.Rate
			switch {
			case hit && f.Kind == "drop":
			case hit:
				kept = append(kept, c^0x55)
			default:
				kept = append(kept, c)
			}
		}
		es[i].Dev = kept
	}
	return dropEmpty(es)
}

// dropEmpty removes events a fault emptied entirely (a dev event whose
// bytes were all dropped), keeping every other kind of event.
func dropEmpty(es []trace.Event) []trace.Event {
	out := es[:0]
	for _, e := range es {
		if e.Dev != nil && len(e.Dev) == 0 && e.Host == nil && e.GPIO == nil && e.USB == nil && e.Note == "" && !e.Unplug && !e.Replug {
			continue
		}
		if e.Dev == nil && e.Host == nil && e.GPIO == nil && e.USB == nil && e.Note == "" && !e.Unplug && !e.Replug {
			continue
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].T < out[b].T })
	return out
}
