package schema

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The fast path (Validator.Reading) against the full one (Validate and
// Decode): it may leave a message to Validate, but whatever it accepts
// Validate accepts, and what it read is what Decode reads.

var numSchema = []byte(`{"type":"object","required":["n"],"additionalProperties":false,"properties":{
	"n":{"type":"integer","minimum":0,"maximum":100},
	"f":{"type":"number","exclusiveMinimum":-1.5,"multipleOf":0.5},
	"e":{"enum":[1,"one",null,true,[1],{"a":1}]},
	"c":{"const":2.50},
	"s":{"type":"string","pattern":"^[A-Z]{2}$","maxLength":2},
	"u":{"type":"array","uniqueItems":true,"items":{"type":["number","string"]}},
	"o":{"type":"object","properties":{"x":{"type":"array","items":{"type":"object"}}}}
}}`)

// fltSchema compiles: the fast path reads its short numbers as float64.
var fltSchema = []byte(`{"type":"object","additionalProperties":false,"properties":{
	"i":{"type":"integer","minimum":-5,"exclusiveMaximum":10.5},
	"e":{"enum":[1,2,"x"]},
	"u":{"type":"array","uniqueItems":true,"items":{"type":"number"}},
	"b":{"type":"number","maximum":0.1},
	"o":{"type":"object","properties":{"n":{"type":"integer"}}}
}}`)

func fastValidator(t testing.TB) *Validator {
	v, err := New(map[string][]byte{"doc": docSchema, "num": numSchema, "flt": fltSchema})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// agree fails t when the fast path accepts what Validate refuses, or
// reads it otherwise than Decode, or ReadingMembersInto reads it
// otherwise than ReadingInto. It reports whether the fast path took the
// message.
func agree(t testing.TB, v *Validator, msg []byte) bool {
	took := agreeDecode(t, v, msg)
	var r, rm Reading
	if v.ReadingMembersInto(msg, &rm) != took {
		t.Fatalf("ReadingMembersInto takes it: %v, ReadingInto: %v:\n%q", !took, took, msg)
	}
	if !took {
		return false
	}
	v.ReadingInto(msg, &r)
	payload := rm.Payload
	if rm.Members != nil {
		if rm.Payload != nil {
			t.Fatalf("both members and a map of %q", msg)
		}
		payload = membersMap(rm.Members)
		if len(payload) != len(rm.Members) {
			t.Fatalf("a name given twice among the members %v of %q", rm.Members, msg)
		}
	}
	if !reflect.DeepEqual(payload, r.Payload) {
		t.Fatalf("members %#v, want %#v", payload, r.Payload)
	}
	r.Payload, rm.Payload, rm.Members = nil, nil, nil
	if !reflect.DeepEqual(r, rm) {
		t.Fatalf("ReadingMembersInto read\n%#v\nReadingInto\n%#v", rm, r)
	}
	return true
}

func agreeDecode(t testing.TB, v *Validator, msg []byte) bool {
	r, ok := v.Reading(msg)
	if !ok {
		return false
	}
	if err := v.Validate(msg); err != nil {
		t.Fatalf("fast path accepts what Validate refuses (%v):\n%q", err, msg)
	}
	inst, _ := Decode(msg)
	doc := inst.(map[string]any)
	str := func(k string) string { s, _ := doc[k].(string); return s }
	q := doc["quality"].(map[string]any)
	status, _ := q["status"].(string)
	reason, _ := q["reason"].(string)
	hist, _ := doc["historical"].(bool)
	_, raw := doc["raw"]
	sent, hasPersonal := doc["personal"].([]any)
	var personal []string
	for _, p := range sent {
		personal = append(personal, p.(string))
	}
	origin, err := time.Parse(time.RFC3339Nano, str("origin"))
	if err != nil {
		t.Fatalf("fast path read an origin time.Parse refuses: %q", msg)
	}
	got := []any{r.Schema, r.Crossing, r.Box, r.Device, r.Kind, r.Driver, r.Incarnation, json.Number(
		jsonUint(r.Seq)), r.Origin, r.Clock, r.Status, r.Reason, r.Historical, r.HasRaw, r.HasPersonal, len(r.Personal)}
	want := []any{str("schema"), str("crossing"), str("box"), str("device"), str("kind"), str("driver"), str("incarnation"),
		doc["seq"], origin, str("clock"), status, reason, hist, raw, hasPersonal, len(personal)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fast path read\n%v\nDecode reads\n%v\nfrom %q", got, want, msg)
	}
	for i := range personal {
		if personal[i] != r.Personal[i] {
			t.Fatalf("personal %q, want %q", r.Personal, personal)
		}
	}
	if p := Floats(doc["payload"]); !reflect.DeepEqual(p, any(r.Payload)) {
		t.Fatalf("payload %#v, want %#v", r.Payload, p)
	}
	return true
}

func jsonUint(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

const fastV2 = `{"schema":"kordon.reading/2","crossing":"kz-a","box":"b1","device":"r1","kind":"num","driver":"t",` +
	`"incarnation":"abcd1234abcd1234","seq":17,"origin":"2026-11-01T09:00:00.123456789Z","clock":"synced",` +
	`"quality":{"status":"suspect","reason":"why"},"historical":true,"payload":{"n":5,"f":2.5,"e":"one","c":2.5,"s":"AB","u":[1,"1",2.0],"o":{"x":[{}]}},` +
	`"raw":"AAEC","personal":["/payload/s","/raw"]}`

// fastValid are readings the fast path must take itself.
func fastValid(t testing.TB) []string {
	v1 := strings.Replace(strings.Replace(fastV2, `"kordon.reading/2"`, `"kordon.reading/1"`, 1), `"incarnation":"abcd1234abcd1234",`, ``, 1)
	out := []string{
		fastV2, v1,
		" \t\r\n" + strings.NewReplacer(`,"`, " ,\n \"", `":`, "\"\t: ", `{`, "{ ", `}`, "\r}", `[`, "[ ", `]`, " ]").Replace(fastV2) + "\n ",
		strings.Replace(fastV2, `"reason":"why"`, `"reason":"caf\u00e9 \"quoted\" \\ \/ \b\f\n\r\t \u2028 😀 é"`, 1),
		strings.Replace(fastV2, `"driver":"t"`, `"driver":"\u0074"`, 1),
		strings.Replace(fastV2, `"reason":"why"`, "\"reason\":\"\xff\xfe\"", 1), // invalid UTF-8: encoding/json's U+FFFD
		strings.Replace(fastV2, `"origin":"2026-11-01T09:00:00.123456789Z"`, `"origin":"2026-11-01T09:00:00+05:30"`, 1),
		strings.Replace(fastV2, `"origin":"2026-11-01T09:00:00.123456789Z"`, `"origin":"2024-02-29T23:59:59.5-23:59"`, 1),
		strings.Replace(fastV2, `"n":5`, `"n":100,"f":-1,"e":{"a":1}`, 1),
		strings.Replace(fastV2, `"n":5`, `"n":1e1,"e":[1]`, 1),
		strings.Replace(fastV2, `"n":5`, `"n":5.0,"e":1.0`, 1),
		strings.Replace(fastV2, `"n":5`, `"n":0,"e":null`, 1),
		strings.Replace(fastV2, `"u":[1,"1",2.0]`, `"u":[0.1,1e-7,-0,123456789012345678901234567890,1E+400]`, 1),
		strings.Replace(fastV2, `,"raw":"AAEC","personal":["/payload/s","/raw"]`, ``, 1),
		strings.Replace(fastV2, `"personal":["/payload/s","/raw"]`, `"personal":[]`, 1),
		strings.Replace(fastV2, `"personal":["/payload/s","/raw"]`, `"personal":["/payload","/raw/x/y z"]`, 1),
		`{"personal":["/payload/s"],` + strings.TrimPrefix(strings.Replace(fastV2, `,"personal":["/payload/s","/raw"]`, ``, 1), `{`),
		strings.Replace(fastV2, `"quality":{"status":"suspect","reason":"why"}`, `"quality":{"reason":"","status":"bad"}`, 1),
		strings.Replace(fastV2, `"historical":true`, `"historical":false`, 1),
		strings.Replace(fastV2, `"o":{"x":[{}]}`, `"o":{"x":[{"a":{"b":[[[]]]}}],"x":[],"y":null}`, 1),
		strings.Replace(fastV2, `"box":"b1"`, `"box":"`+strings.Repeat("a", 63)+`"`, 1),
		strings.Replace(fastV2, `"kind":"num"`, `"kind":"doc"`, 1) + "", // payload refused: the fast path leaves it
	}
	return out[:len(out)-1]
}

// fastInvalid are variants Validate refuses.
func fastInvalid() []string {
	r := func(old, new string) string { return strings.Replace(fastV2, old, new, 1) }
	return []string{
		``, `{}`, `[]`, `null`, `"x"`, fastV2 + `x`, fastV2 + `{}`, fastV2[:len(fastV2)-1], "\ufeff" + fastV2, "\f" + fastV2,
		r(`"schema":"kordon.reading/2"`, `"schema":"kordon.reading/3"`),
		r(`"schema":"kordon.reading/2"`, `"schema":"kordon.state/1"`),
		r(`"incarnation":"abcd1234abcd1234",`, ``),
		r(`"schema":"kordon.reading/2"`, `"schema":"kordon.reading/1"`),
		r(`"incarnation":"abcd1234abcd1234"`, `"incarnation":"abcd123"`),
		r(`"incarnation":"abcd1234abcd1234"`, `"incarnation":"ABCD1234"`),
		r(`"incarnation":"abcd1234abcd1234"`, `"incarnation":"`+strings.Repeat("a", 33)+`"`),
		r(`"box":"b1"`, `"box":"B1"`), r(`"box":"b1"`, `"box":"-b"`), r(`"box":"b1"`, `"box":""`),
		r(`"box":"b1"`, `"box":"`+strings.Repeat("a", 64)+`"`), r(`"box":"b1"`, `"box":"b1\n"`), r(`"box":"b1"`, `"box":1`),
		r(`"box":"b1"`, `"box":"b\u00e91"`), r(`"box":"b1"`, `"box":null`),
		r(`"kind":"num"`, `"kind":"Num"`), r(`"kind":"num"`, `"kind":"1num"`), r(`"kind":"num"`, `"kind":"nope"`),
		r(`"driver":"t"`, `"driver":""`), r(`"driver":"t"`, `"driver":"`+strings.Repeat("é", 65)+`"`),
		r(`"seq":17`, `"seq":0`), r(`"seq":17`, `"seq":-1`), r(`"seq":17`, `"seq":1.5`), r(`"seq":17`, `"seq":"17"`),
		r(`"seq":17`, `"seq":017`), r(`"seq":17`, `"seq":1.`), r(`"seq":17`, `"seq":.1`), r(`"seq":17`, `"seq":+1`),
		r(`"origin":"2026-11-01T09:00:00.123456789Z"`, `"origin":"2026-11-01 09:00:00Z"`),
		r(`"origin":"2026-11-01T09:00:00.123456789Z"`, `"origin":"2026-02-30T09:00:00Z"`),
		r(`"origin":"2026-11-01T09:00:00.123456789Z"`, `"origin":"2026-11-01T24:00:00Z"`),
		r(`"origin":"2026-11-01T09:00:00.123456789Z"`, `"origin":"2026-11-01T09:00:00.Z"`),
		r(`"origin":"2026-11-01T09:00:00.123456789Z"`, `"origin":"2026-11-01T09:00:00+24:00"`),
		r(`"origin":"2026-11-01T09:00:00.123456789Z"`, `"origin":"2026-11-01T09:00:00"`),
		r(`"clock":"synced"`, `"clock":"fast"`), r(`"clock":"synced"`, `"clock":null`),
		r(`"status":"suspect"`, `"status":"great"`), r(`"status":"suspect",`, ``),
		r(`"reason":"why"`, `"reason":"`+strings.Repeat("x", 513)+`"`), r(`"reason":"why"`, `"reason":"why","extra":1`),
		r(`"quality":{"status":"suspect","reason":"why"}`, `"quality":[]`),
		r(`"historical":true`, `"historical":1`), r(`"historical":true`, `"historical":null`),
		r(`"raw":"AAEC"`, `"raw":1`), r(`"personal":["/payload/s","/raw"]`, `"personal":["/other"]`),
		r(`"personal":["/payload/s","/raw"]`, `"personal":["/payloads"]`),
		r(`"personal":["/payload/s","/raw"]`, `"personal":["/payload/\n"]`),
		r(`"personal":["/payload/s","/raw"]`, `"personal":[1]`), r(`"personal":["/payload/s","/raw"]`, `"personal":"/raw"`),
		r(`"seq":17`, `"seq":17,"extra":true`), r(`"seq":17`, `"seq":17,"Box":"b1"`),
		r(`"payload":{`, `"payload":[],"x":{`), r(`"n":5`, `"n":5.5`), r(`"n":5`, `"n":101`), r(`"n":5`, `"n":-1`),
		r(`"n":5`, `"n":100.00000000000000000001`), r(`"n":5,`, ``), r(`"f":2.5`, `"f":2.25`), r(`"f":2.5`, `"f":-1.5`),
		r(`"e":"one"`, `"e":"two"`), r(`"c":2.5`, `"c":2.5000000000000000001`), r(`"s":"AB"`, `"s":"ab"`),
		r(`"u":[1,"1",2.0]`, `"u":[1,1.0]`), r(`"u":[1,"1",2.0]`, `"u":[true]`), r(`"o":{"x":[{}]}`, `"o":{"x":[1]}`),
		r(`"n":5`, `"n":5,"zz":1`), r(`"n":5`, `"n":tru`), r(`"n":5`, `"n":nul`), r(`"n":5`, `"n":5,`),
		r(`"n":5`, `"n":01`), r(`"n":5`, `"n":1e`), r(`"n":5`, `"n":-`), r(`"n":5`, `"n":NaN`),
		r(`"reason":"why"`, "\"reason\":\"w\thy\""), r(`"reason":"why"`, `"reason":"\x"`), r(`"reason":"why"`, `"reason":"\u12"`),
		r(`"s":"AB"`, `"s":"A`+"\xff"+`"`),
	}
}

// Numbers the fast path reads as float64 are judged as the validator
// judges the numbers written, and where the compiled check is not sure
// (uniqueItems of numbers, an exponent) the validator has them as written.
func TestFastReadingFloats(t *testing.T) {
	v := fastValidator(t)
	if v.kinds["flt"].check == nil {
		t.Fatal("flt schema not compiled")
	}
	msg := func(payload string) []byte {
		return []byte(strings.Replace(strings.Replace(fastV2, `"kind":"num"`, `"kind":"flt"`, 1),
			`{"n":5,"f":2.5,"e":"one","c":2.5,"s":"AB","u":[1,"1",2.0],"o":{"x":[{}]}}`, payload, 1))
	}
	for _, p := range []string{`{}`, `{"i":5}`, `{"i":5.0}`, `{"i":-5}`, `{"i":10}`, `{"i":10.0}`, `{"i":-0}`, `{"i":1e1}`,
		`{"e":1}`, `{"e":1.0}`, `{"e":2}`, `{"e":"x"}`, `{"u":[1,2]}`, `{"u":[0.1,0.2]}`, `{"u":[]}`,
		`{"b":0.1}`, `{"b":0.09999999999999}`, `{"b":-1e3}`, `{"b":1e-1}`, `{"b":-123456789012345678}`, `{"o":{"n":3}}`} {
		m := msg(p)
		if err := v.Validate(m); err != nil {
			t.Fatalf("%s: test reading invalid: %v", p, err)
		}
		if !agree(t, v, m) {
			t.Errorf("%s: fast path left a valid reading to Validate", p)
		}
	}
	for _, p := range []string{`{"i":10.5}`, `{"i":4.5}`, `{"i":-6}`, `{"i":11}`, `{"i":1e2}`, `{"e":3}`, `{"e":1.5}`,
		`{"u":[1,1]}`, `{"u":[1,1.0]}`, `{"b":0.10000000000001}`, `{"b":0.2}`, `{"b":2e-1}`, `{"o":{"n":3.5}}`} {
		m := msg(p)
		if v.Validate(m) == nil {
			t.Fatalf("%s: test reading valid", p)
		}
		if agree(t, v, m) {
			t.Errorf("%s: accepted", p)
		}
	}
}

func TestFastReadingTakesValidReadings(t *testing.T) {
	v := fastValidator(t)
	for _, msg := range fastValid(t) {
		if err := v.Validate([]byte(msg)); err != nil {
			t.Fatalf("test reading invalid: %v\n%s", err, msg)
		}
		if !agree(t, v, []byte(msg)) {
			t.Errorf("fast path left a plain valid reading to Validate:\n%s", msg)
		}
	}
}

func TestFastReadingRefusesWhatValidateRefuses(t *testing.T) {
	v := fastValidator(t)
	for i, msg := range fastInvalid() {
		if v.Validate([]byte(msg)) == nil {
			t.Fatalf("test message %d valid: %q", i, msg)
		}
		if agree(t, v, []byte(msg)) {
			t.Errorf("accepted: %q", msg)
		}
	}
}

// Messages both paths accept but the fast path leaves to Validate: a
// member given twice, numbers the generic path reads otherwise.
func TestFastReadingLeavesUnusualReadings(t *testing.T) {
	v := fastValidator(t)
	for _, msg := range []string{
		strings.Replace(fastV2, `"box":"b1"`, `"box":"b2","box":"b1"`, 1),
		strings.Replace(fastV2, `"seq":17`, `"seq":17.0`, 1),
		strings.Replace(fastV2, `"seq":17`, `"seq":1.7e1`, 1),
		strings.Replace(fastV2, `"seq":17`, `"seq":18446744073709551616`, 1),
	} {
		if err := v.Validate([]byte(msg)); err != nil {
			t.Fatalf("test reading invalid: %v\n%s", err, msg)
		}
		if agree(t, v, []byte(msg)) {
			t.Errorf("fast path took %s", msg)
		}
	}
}

func TestWithPersonal(t *testing.T) {
	v := fastValidator(t)
	for _, msg := range fastValid(t) {
		r, ok := v.Reading([]byte(msg))
		if !ok {
			t.Fatal("not taken")
		}
		for _, ptrs := range [][]string{nil, {"/payload/n"}, {"/payload/s", "/payload/a~1b", "/raw"}} {
			out := r.WithPersonal([]byte(msg), ptrs)
			g, err := Decode(out)
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			w, _ := Decode([]byte(msg))
			got, want := g.(map[string]any), w.(map[string]any)
			delete(want, "personal")
			if len(ptrs) > 0 {
				l := []any{}
				for _, p := range ptrs {
					l = append(l, p)
				}
				want["personal"] = l
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("WithPersonal(%q):\n%s\nfrom\n%s", ptrs, out, msg)
			}
		}
	}
}

func FuzzFastReading(f *testing.F) {
	for _, m := range fastValid(f) {
		f.Add([]byte(m))
	}
	for _, m := range fastInvalid() {
		f.Add([]byte(m))
	}
	for _, p := range []string{`{"i":5.0,"e":1,"u":[1,2],"b":0.1,"o":{"n":3}}`, `{"i":10.5,"e":1.5,"u":[1,1.0],"b":1e-1}`} {
		f.Add([]byte(strings.Replace(strings.Replace(fastV2, `"kind":"num"`, `"kind":"flt"`, 1),
			`{"n":5,"f":2.5,"e":"one","c":2.5,"s":"AB","u":[1,"1",2.0],"o":{"x":[{}]}}`, p, 1)))
	}
	v := fastValidator(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		agree(t, v, msg)
		if r, ok := v.Reading(msg); ok {
			out := r.WithPersonal(msg, []string{"/raw"})
			if !json.Valid(out) {
				t.Fatalf("WithPersonal gave %q", out)
			}
		}
	})
}

// driverSchemas reads every kind's payload schema from the drivers'
// folders (files, not the package: drivers is a layer above this one).
func driverSchemas(t testing.TB) map[string][]byte {
	files, _ := filepath.Glob("../../drivers/*/*.schema.json")
	if len(files) == 0 {
		t.Fatal("no payload schemas found")
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".schema.json")] = b
	}
	return out
}

func TestEveryPayloadSchemaCompiles(t *testing.T) {
	schemas := driverSchemas(t)
	v, err := New(schemas)
	if err != nil {
		t.Fatal(err)
	}
	for kind := range schemas {
		if v.kinds[kind].check == nil {
			t.Errorf("payload schema %s not compiled: its readings go through the JSON Schema validator", kind)
		}
	}
	if v2 := fastValidator(t); v2.kinds["num"].check != nil {
		t.Error("a schema with an enum of structures compiled")
	}
}

// payloadSeeds are payloads of hubbench's kinds, and variants near their
// schemas' edges.
var payloadSeeds = []string{
	`temperature {"sensor":"lane-1","model":"calex-pyrousb","celsius":36.5,"measured_celsius":36.5,"housing_celsius":25,"emissivity":0.98,"fever":false,"fever_threshold":37.5,"events":[],"cause":"change"}`,
	`temperature {"sensor":"","model":"m","fever":true,"events":["fever_onset","fault"],"cause":"event","fault":"stuck","status":["a"]}`,
	`temperature {"sensor":"s","model":"m","fever":true,"events":["fault","fault"],"cause":"event"}`,
	`temperature {"sensor":"s","model":"m","fever":1,"events":[],"cause":"first","celsius":1e400}`,
	`trace_sample {"record":"sample","result":"ALARM","alarm":true,"substances":["TNT","RDX"],"substance_list":"TNT, RDX","confidence":0.93,"sample":"S0050","device_time":"2026-11-01T09:06:00Z"}`,
	`trace_sample {"record":"sample","alarm":false,"substances":[],"confidence":1.0000000000000001,"device_time":"2026-11-01T09:06:60Z","fields":{"a":"b"}}`,
	`trace_sample {"record":"s","alarm":false,"substances":[""],"confidence":-0,"fields":{"a":1}}`,
	`document {"format":"TD3","document_code":"P","issuer":"UTO","number":"L898902C3","nationality":"UTO","birth_date":"1974-08-12","sex":"F","expiry_date":"2012-04-15","primary_name":"ERIKSSON","secondary_name":"ANNA MARIA","name_truncated":false,"optional_data":"ZE184226B","checks":[{"field":"number","read":"6","computed":"6","ok":true}],"valid":true,"expired":true,"minor":false,"candidates":[],"rows":["P<UTO","L898"]}`,
	`document {"failure":"incomplete","rows_read":1,"rows_expected":2,"rows":["P<UTO"]}`,
	`document {"failure":"incomplete","rows_read":-1,"rows":["P<UTO"],"format":"TD3"}`,
	`contact {"line":"l","role":"door","active":true,"state":"open","level":1,"bounces":0}`,
	`contact {"line":"l","role":"door","active":true,"state":"open","level":1.0,"bounces":-0}`,
	`contact {"line":"l","role":"door","active":true,"state":"open","level":-0}`,
	`contact {"line":"l","role":"door","active":true,"state":"open","level":2}`,
	`document {"format":"TD9","document_code":"P","issuer":"UTO","number":"X","checks":[{"ok":true}],"valid":true,"candidates":null}`,
	`document {"format":"TD3","document_code":"P","issuer":"UTO","number":"X","checks":[{"field":"a","ok":true},{"field":1,"ok":true}],"valid":true}`,
	`document {"format":"TD3","document_code":"P","issuer":"UTO","number":"X","checks":[{"field":"a","ok":true},"x",[]],"valid":true}`,
	`document {"format":"TD3","document_code":"P","issuer":"UTO","number":"X","checks":{"field":"a","ok":true},"valid":true}`,
	`document {"failure":"block_check","rows_read":2,"rows":["a","b"],"checks":[{"field":"a","ok":true}]}`,
}

// FuzzCompiledCheck: a compiled payload schema never accepts a payload
// the JSON Schema validator refuses.
func FuzzCompiledCheck(f *testing.F) {
	for _, s := range payloadSeeds {
		f.Add([]byte(s))
	}
	v, err := New(driverSchemas(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		kind, body, _ := strings.Cut(string(in), " ")
		c := v.kinds[kind].check
		if c == nil {
			return
		}
		p, err := Decode([]byte(body))
		if err != nil {
			return
		}
		if c(p) {
			if err := v.kinds[kind].schema.Validate(p); err != nil {
				t.Fatalf("compiled %s schema accepts what the validator refuses (%v): %s", kind, err, body)
			}
		}
		// As the fast path reads it: short numbers as float64.
		sc := scanner{b: []byte(body)}
		q, ok := sc.value(0)
		if ok && c(q) {
			if err := v.kinds[kind].schema.Validate(p); err != nil {
				t.Fatalf("compiled %s schema accepts, with numbers read as float64, what the validator refuses (%v): %s", kind, err, body)
			}
		}
		// And with the kind's plan, member by member.
		if pl := v.kinds[kind].plan; pl != nil && ok {
			planSure(t, v, kind, body, q)
		}
	})
}

// planSure reads body, a payload of kind, with the kind's plan, as the
// fast path does; it fails t when the plan is sure of what the validator
// refuses, or reads otherwise than the scanner's generic read (want).
func planSure(t testing.TB, v *Validator, kind, body string, want any) bool {
	sc := scanner{b: []byte(body), names: v.names}
	sc.ws()
	m, sure, ok := sc.planObject(v.kinds[kind].plan, 0)
	if !ok {
		return false
	}
	if !reflect.DeepEqual(any(m), want) {
		t.Fatalf("plan of %s read %#v, the generic read %#v: %s", kind, m, want, body)
	}
	if sure {
		p, _ := Decode([]byte(body))
		if err := v.kinds[kind].schema.Validate(p); err != nil {
			t.Fatalf("plan of %s sure of what the validator refuses (%v): %s", kind, err, body)
		}
	}
	return sure
}

// TestPlan holds plans to the validator on the schema shapes they take,
// and on their edges: a name required without a property schema, an
// if/then/else, names given twice.
func TestPlan(t *testing.T) {
	schemas := map[string][]byte{
		"flat": []byte(`{"type":"object","required":["a","b"],"additionalProperties":false,"properties":{"a":{"type":"string"},"c":{"type":"number","maximum":3}}}`),
		"open": []byte(`{"type":"object","required":["a"],"properties":{"a":{"type":"string"}},"additionalProperties":{"type":"boolean"}}`),
		"ifte": []byte(`{"type":"object","if":{"required":["f","g"]},"then":{"required":["f"],"properties":{"f":{"enum":["x"]},"g":true},"additionalProperties":false},
			"else":{"required":["h"],"properties":{"h":{"type":"boolean"}}}}`),
		"then": []byte(`{"if":{"required":["f"]},"then":{"required":["g"]}}`),
		"none": []byte(`{"type":"object","minProperties":1,"properties":{"a":{"type":"string"}}}`),
		"arr": []byte(`{"type":"object","required":["l"],"properties":{"l":{"type":"array","maxItems":2,
			"items":{"type":"object","required":["f"],"properties":{"f":{"type":"string"},"n":{"items":{"required":["x"]}}}}}}}`),
		"arrs": []byte(`{"if":{"required":["f"]},"then":{"properties":{"l":{"items":{"required":["a"],"properties":{"a":true},"additionalProperties":false}}}},
			"else":{"properties":{"l":{"items":{"required":["b"]}}}}}`),
	}
	v, err := New(schemas)
	if err != nil {
		t.Fatal(err)
	}
	if v.kinds["none"].plan != nil {
		t.Fatal("a plan for a schema with minProperties")
	}
	if l := v.kinds["arr"].plan.props["l"]; l == nil || l.items[0] == nil || l.items[0].props["n"].items[0] == nil {
		t.Fatal("no items' plan for arrays of objects")
	}
	for _, tc := range []struct {
		kind, body string
		sure       bool // the plan is sure of it (and then the validator must agree)
	}{
		{"flat", `{"a":"x","b":1}`, false}, // b is required, not a property: additional, refused
		{"flat", `{"a":"x"}`, false},
		{"flat", `{"a":"x","c":3}`, false},
		{"open", `{"a":"x"}`, true},
		{"open", `{"a":"x","z":true}`, true},
		{"open", `{"a":"x","z":1}`, false},
		{"open", `{"z":true}`, false},
		{"open", `{"a":1,"a":"x"}`, false}, // the validator sees "x"; the plan is not sure of the first
		{"open", `{"a":"x","a":1}`, false},
		{"open", `{"\u0061":"x"}`, true},
		{"ifte", `{"f":"x","g":[1]}`, true},
		{"ifte", `{"f":"y","g":1}`, false},
		{"ifte", `{"f":"x","g":1,"h":true}`, false}, // then: h is additional
		{"ifte", `{"f":"x","h":true}`, true},        // no g: else, which takes any f
		{"ifte", `{"f":1,"h":true}`, true},
		{"ifte", `{"h":1}`, false},
		{"ifte", `{}`, false},
		{"then", `{"f":1,"g":2}`, true},
		{"then", `{"f":1}`, false},
		{"then", `{}`, true},
		{"arr", `{"l":[]}`, true},
		{"arr", `{"l":[{"f":"x"},{"f":"y","n":[{"x":1},{"x":{"x":2}}]}]}`, true},
		{"arr", `{"l":[{"f":"x","n":[{"y":1}]}]}`, false}, // an item of an item without its required name
		{"arr", `{"l":[{"f":"x","n":["s"]}]}`, false},     // not an object: the validator decides (it takes it)
		{"arr", `{"l":[{"f":"x","n":{"x":1}}]}`, true},    // not an array: items assert nothing
		{"arr", `{"l":[{"f":1}]}`, false},
		{"arr", `{"l":[{}]}`, false},
		{"arr", `{"l":[{"f":"x"},1]}`, false},
		{"arr", `{"l":[{"f":"x"},{"f":"x"},{"f":"x"}]}`, false}, // maxItems, the array's own
		{"arr", `{"l":{"f":1}}`, false},                         // type
		{"arr", `{"l":[{"f":1}],"l":[{"f":"x"}]}`, false},       // the validator sees the last; the plan is not sure of the first
		{"arr", `{"l":[{"f":"x"}],"l":[{"f":1}]}`, false},
		{"arrs", `{"f":1,"l":[{"a":1}]}`, true},
		{"arrs", `{"f":1,"l":[{"a":1,"b":1}]}`, false},
		{"arrs", `{"l":[{"a":1,"b":1}]}`, true},
		{"arrs", `{"l":[{"a":1}]}`, false},
		{"arrs", `{"f":1,"l":[{"b":1}]}`, false},
	} {
		if v.kinds[tc.kind].plan == nil {
			t.Fatalf("no plan for %s", tc.kind)
		}
		sc := scanner{b: []byte(tc.body)}
		want, _ := sc.value(0)
		if got := planSure(t, v, tc.kind, tc.body, want); got != tc.sure {
			t.Errorf("%s %s: plan sure %v, want %v", tc.kind, tc.body, got, tc.sure)
		}
	}
}

// FuzzSimpleFloat: a short number is read as strconv.ParseFloat reads it.
func FuzzSimpleFloat(f *testing.F) {
	for _, s := range []string{"0", "-0", "36.5", "0.98", "-0.0", "123456789012345", "0.000000000000001", "9.99999999999999", "-1.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc := scanner{b: []byte(s)}
		lit, ok := sc.number()
		if !ok || sc.i != len(s) || !simpleNumber(lit) {
			return
		}
		want, err := strconv.ParseFloat(s, 64)
		if got := simpleFloat(lit); err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("simpleFloat(%q) = %v, ParseFloat: %v, %v", s, got, want, err)
		}
	})
}

func TestCompiledCheckTakesHubbenchPayloads(t *testing.T) {
	v, err := New(driverSchemas(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 4, 7, 8} {
		kind, body, _ := strings.Cut(payloadSeeds[i], " ")
		p, _ := Decode([]byte(body))
		if err := v.kinds[kind].schema.Validate(p); err != nil {
			t.Fatalf("seed %d invalid: %v", i, err)
		}
		if !v.kinds[kind].check(p) {
			t.Errorf("compiled %s schema unsure of a plain payload: %s", kind, body)
		}
		sc := scanner{b: []byte(body)}
		q, _ := sc.value(0)
		if v.kinds[kind].plan == nil || !planSure(t, v, kind, body, q) {
			t.Errorf("%s schema's plan unsure of a plain payload: %s", kind, body)
		}
	}
}

// FuzzUnquote: the fast path reads a string as encoding/json does.
func FuzzUnquote(f *testing.F) {
	for _, s := range []string{``, `a`, `\"\\\/\b\f\n\r\t`, `\u00e9\u2028`, `\ud83d\ude00`, `\ud83d`, `\ud83d\u0041`, `\udc00x`,
		"\xff\xfe", "é😀", `\'`, `\x`, `\u12`, `\u12G4`, "\x01", `P\u003cUTO`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		got, ok := unquote(s)
		var want string
		err := json.Unmarshal([]byte(`"`+string(s)+`"`), &want)
		if ok && (err != nil || got != want) {
			t.Fatalf("unquote(%q) = %q, encoding/json: %q, %v", s, got, want, err)
		}
		if !ok && err == nil && !strings.Contains(string(s), `"`) {
			t.Fatalf("unquote(%q) refused what encoding/json reads as %q", s, want)
		}
	})
}

func TestFastReadingRawLength(t *testing.T) {
	v := fastValidator(t)
	for _, tc := range []struct {
		raw   string
		valid bool
	}{
		{strings.Repeat("A", 1<<20), true},
		{strings.Repeat("A", 1<<20+1), false},
		{strings.Repeat("é", 1<<20), true},
		{strings.Repeat(`\u00e9`, 1<<20+1), false},
		{`AA\/` + strings.Repeat("A", 1<<20-3), true},
	} {
		msg := []byte(strings.Replace(fastV2, `"raw":"AAEC"`, `"raw":"`+tc.raw+`"`, 1))
		if valid := v.Validate(msg) == nil; valid != tc.valid {
			t.Fatalf("raw of %d bytes: valid %v, want %v", len(tc.raw), valid, tc.valid)
		}
		if took := agree(t, v, msg); took != tc.valid {
			t.Errorf("raw of %d bytes: fast path took it: %v", len(tc.raw), took)
		}
	}
}

// FuzzSpecial: the eight-byte test finds the first byte the byte-by-byte
// one does.
func FuzzSpecial(f *testing.F) {
	for _, s := range []string{"abcdefgh", `abc"efgh`, `\bcdefgh`, "abcdefg\x1f", "abcdefg\x20", "é1234567", "\x00\x00\x00\x00\x00\x00\x00\x00", "\x7f!#[]]}~", "a\x01\x00\"b\\c\x80"} {
		f.Add(binary.LittleEndian.Uint64([]byte(s)))
	}
	f.Fuzz(func(t *testing.T, x uint64) {
		want := 8
		for i, c := range binary.LittleEndian.AppendUint64(nil, x) {
			if c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
				want = i
				break
			}
		}
		if got := bits.TrailingZeros64(special(x)) / 8; got != want {
			t.Fatalf("special(%#x): first at %d, want %d", x, got, want)
		}
	})
}

// FuzzDateTime: a date-time the fast path reads is the one time.Parse
// reads, to the location.
func FuzzDateTime(f *testing.F) {
	for _, s := range []string{"2026-11-01T09:00:00.123456789Z", "2026-11-01T09:00:00Z", "2024-02-29T23:59:59.5Z", "2023-02-29T00:00:00Z",
		"2026-11-31T00:00:00Z", "2026-13-01T00:00:00Z", "2026-11-01T24:00:00Z", "2026-11-01T09:60:00Z", "2026-11-01T09:00:60Z",
		"0000-01-01T00:00:00Z", "2100-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "2026-11-01T09:00:00.1234567891234Z",
		"2026-11-01T09:00:00.Z", "2026-11-01T09:00:00+05:30", "2026-00-10T00:00:00Z", "2026-11-00T00:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := dateTime(s)
		want, err := time.Parse(time.RFC3339Nano, s)
		if ok && (err != nil || !reflect.DeepEqual(got, want)) {
			t.Fatalf("dateTime(%q) = %v, time.Parse: %v, %v", s, got, want, err)
		}
	})
}

// TestArrays: arrays read through the scanner's element stack, nested and
// beyond its fixed part, are what encoding/json reads.
func TestArrays(t *testing.T) {
	long := func(n int, el string) string {
		return "[" + strings.TrimSuffix(strings.Repeat(el+",", n), ",") + "]"
	}
	for _, in := range []string{
		`[]`, `[[]]`, `[1]`, `[[1,2],[3],[]]`,
		long(16, `"a"`), long(17, `"b"`), long(40, `1`),
		"[" + long(10, `1`) + "," + long(10, `"x"`) + "," + long(20, long(3, `true`)) + "]",
		long(15, `1`)[:len(long(15, `1`))-1] + "," + long(5, `2`) + "]",
		`{"a":` + long(20, `{"b":`+long(18, `null`)+`}`) + `}`,
	} {
		sc := scanner{b: []byte(in), exact: true}
		got, ok := sc.value(0)
		if !ok || sc.top != 0 {
			t.Fatalf("%s: not read (ok %v, %d elements left)", in, ok, sc.top)
		}
		var want any
		d := json.NewDecoder(strings.NewReader(in))
		d.UseNumber()
		if err := d.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: read %v, want %v", in, got, want)
		}
	}
}

// TestPlanNameIndex: every payload schema's plan (and its items' plans)
// finds its names by the index, and the index finds what the map does.
func TestPlanNameIndex(t *testing.T) {
	v, err := New(driverSchemas(t))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(kind string, p *plan)
	walk = func(kind string, p *plan) {
		if p.names.slots == nil {
			t.Errorf("%s: a plan without a name index", kind)
		}
		probe := []string{"", "x", "rows_", "Rows", "optional_data_3", "checks\x00"}
		for name, pp := range p.props {
			probe = append(probe, name, name+"s", name[:len(name)-1], strings.ToUpper(name))
			for _, ip := range pp.items {
				if ip != nil {
					walk(kind+"/"+name, ip)
				}
			}
		}
		for _, k := range probe {
			if got, want := p.prop(k), p.props[k]; got != want {
				t.Errorf("%s: prop(%q) = %p, the map's %p", kind, k, got, want)
			}
		}
	}
	for kind, ks := range v.kinds {
		if ks.plan != nil {
			walk(kind, ks.plan)
		}
	}
	if p := v.kinds["document"].plan; p == nil || p.props["checks"].items[1] == nil {
		t.Error("the document's checks are not read with their items' plan")
	}
}

// TestNameSet: the shared strings are found, each as itself, and others
// are not.
func TestNameSet(t *testing.T) {
	ns := &nameSet{long: map[string]name{}}
	words := []string{"", "a", "~", "\x7f", "TD3", "TD1", "checks", "é", strings.Repeat("x", 64), strings.Repeat("x", 65)}
	for _, w := range words {
		ns.add(w)
	}
	for _, w := range words {
		if n, ok := ns.find([]byte(w)); !ok || n.s != w || n.v != w {
			t.Errorf("find(%q) = %q %v %v", w, n.s, n.v, ok)
		}
	}
	for _, w := range []string{"b", "TD", "TD2", "td3", "check", strings.Repeat("x", 66), "\xc3"} {
		if n, ok := ns.find([]byte(w)); ok {
			t.Errorf("find(%q) found %q", w, n.s)
		}
	}
}
