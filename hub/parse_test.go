package hub

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/kordon/kordon/internal/schema"
)

// The parser's fast path against its full one: whatever the fast path
// takes, the full parse takes too and reads alike (the stored body may be
// written otherwise, but says the same).

// sameParse fails t when the fast path took msg and the full parse
// refuses it or reads it otherwise; it reports whether the fast path took it.
func sameParse(t testing.TB, p *parser, device string, msg []byte) bool {
	var r schema.Reading
	if !p.validator.ReadingMembersInto(msg, &r) { // as reading does
		return false
	}
	fast := p.fast(benchBox, device, msg, &r)
	if fast == nil {
		return false
	}
	full, rf := p.full(benchBox, device, msg)
	if rf != nil {
		t.Fatalf("fast path took what the full parse refuses (%s: %v):\n%q", rf.reason, rf.err, msg)
	}
	if !reflect.DeepEqual(fast.r, full.r) || fast.ref != full.ref || !reflect.DeepEqual(fast.ptrs, full.ptrs) ||
		!reflect.DeepEqual(fast.payload.asMap(), full.payload.m) {
		t.Fatalf("fast path read\n%+v %+v %q\n%#v\nthe full parse\n%+v %+v %q\n%#v", fast.r, fast.ref, fast.ptrs, fast.payload,
			full.r, full.ref, full.ptrs, full.payload)
	}
	a, err1 := schema.Decode(fast.body)
	b, err2 := schema.Decode(full.body)
	if err1 != nil || err2 != nil || !reflect.DeepEqual(a, b) {
		t.Fatalf("bodies differ:\n%s\n%s", fast.body, full.body)
	}
	if !bytes.Equal(fast.redacted(), full.redacted()) {
		t.Fatalf("redacted forms differ:\n%s\n%s", fast.redacted(), full.redacted())
	}
	return true
}

// parseVariants are hubbench's readings and variants of them that change
// what is personal, the envelope's shape, or its validity.
func parseVariants(tb testing.TB) []benchReading {
	var out []benchReading
	for _, r := range benchReadings(tb) {
		m := string(r.msg)
		v := func(old, new string) {
			out = append(out, benchReading{name: r.name + " (variant)", device: r.device, msg: []byte(strings.Replace(m, old, new, 1))})
		}
		out = append(out, r)
		v(`"seq":4711`, `"seq":4711,"raw":"AAEC"`)
		v(`"seq":4711`, `"seq":4711,"personal":["/payload/number"]`)
		v(`"seq":4711`, `"seq":4711,"personal":[]`)
		v(`"seq":4711`, `"seq":4711,"raw":"AAEC","personal":["/raw","/payload/rows","/payload/number","/payload/birth_date","/payload/primary_name","/payload/secondary_name","/payload/optional_data","/payload/optional_data_2"]`)
		v(`{"schema"`, `{"personal":["/payload/x"],"schema"`)
		v(`"box":"box-001"`, `"box":"box-002"`)
		v(`"crossing":"`+testCrossing+`"`, `"crossing":"elsewhere"`)
		v(`"quality":{"status":"ok"}`, `"quality":{"status":"bad","reason":"frame \"cut\""}`)
		v(`"seq":4711`, `"seq":4711.0`)
		v(`"seq":4711`, `"seq":0`)
		v(`"origin":"`, `"origin":"x`)
		v(`"payload":{`, `"payload":{"unknown":1,`)
		v(`"kordon.reading/2"`, `"kordon.reading/1"`)
	}
	return out
}

func TestParseFastPathAgrees(t *testing.T) {
	p := benchParser(t)
	for _, r := range parseVariants(t) {
		took := sameParse(t, p, r.device, r.msg)
		if !strings.HasSuffix(r.name, " (variant)") && !took {
			t.Errorf("fast path left hubbench's %s reading to the full parse", r.name)
		}
	}
}

func FuzzParseReading(f *testing.F) {
	for _, r := range parseVariants(f) {
		f.Add(r.device, r.msg)
	}
	p := benchParser(f)
	f.Fuzz(func(t *testing.T, device string, msg []byte) {
		sameParse(t, p, device, msg)
		if _, rf := p.reading(benchBox, device, msg); rf != nil && rf.reason == "" {
			t.Fatal("refusal without a reason")
		}
	})
}
