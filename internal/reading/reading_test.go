package reading

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

type testPayload struct {
	Number string    `json:"number" personal:"true"`
	Valid  bool      `json:"valid"`
	Holder nameParts `json:"holder"`
	Issuer string    `json:"issuer"`
}

type nameParts struct {
	Primary string `json:"primary" personal:"true"`
	Title   string `json:"title"`
}

func (testPayload) Kind() string { return "test_doc" }

func sample() Reading {
	return Reading{
		Crossing: "kz-a", Box: "b1", Device: "r1", Driver: "t", Seq: 7,
		Origin:  time.Date(2026, 11, 22, 10, 0, 0, 5e8, time.FixedZone("ALMT", 5*3600)),
		Quality: Quality{Status: Suspect, Reason: "why"},
		Payload: testPayload{Number: "L898902C3", Valid: true, Holder: nameParts{Primary: "ERIKSSON", Title: "DR"}, Issuer: "UTO"},
		Raw:     []byte("P<UTO"),
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	b, err := json.Marshal(sample())
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"schema":"kordon.reading/1"`, `"kind":"test_doc"`, `"seq":7`,
		`"origin":"2026-11-22T05:00:00.5Z"`, `"clock":"unknown"`, `"raw":"UDxVVE8="`} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %s in %s", want, s)
		}
	}
	if strings.Contains(s, `\u003c`) {
		t.Errorf("HTML escaping in %s", s)
	}
	var back Reading
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Kind() != "test_doc" || back.Seq != 7 || back.Quality.Status != Suspect || !back.Origin.Equal(sample().Origin) {
		t.Errorf("round trip lost fields: %+v", back)
	}
	again, err := json.Marshal(back)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != s {
		t.Errorf("received reading re-marshals differently:\n%s\n%s", again, s)
	}
}

func TestPersonalPointersFollowTags(t *testing.T) {
	got := PersonalPointers(testPayload{})
	want := []string{"/payload/number", "/payload/holder/primary"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("pointers = %v, want %v", got, want)
	}
}

func TestRedactedWithholdsPersonalFields(t *testing.T) {
	b, _ := json.Marshal(sample())
	red := string(Redacted(b))
	for _, secret := range []string{"L898902C3", "ERIKSSON", "UDxVVE8"} {
		if strings.Contains(red, secret) {
			t.Errorf("redacted form still contains %q: %s", secret, red)
		}
	}
	for _, keep := range []string{`"issuer":"UTO"`, `"title":"DR"`, `"valid":true`, `"number":"[personal]"`} {
		if !strings.Contains(red, keep) {
			t.Errorf("redacted form lost %s: %s", keep, red)
		}
	}
	if got := string(Redacted([]byte("not json"))); strings.Contains(got, "not json") {
		t.Errorf("unparseable input echoed: %s", got)
	}
}

func TestUnmarshalRefusesOtherSchemas(t *testing.T) {
	for _, in := range []string{
		`{"schema":"kordon.reading/3","payload":{}}`,
		`{"schema":"kordon.reading/1","incarnation":"abcdef0123456789","payload":{}}`,
	} {
		var r Reading
		if err := json.Unmarshal([]byte(in), &r); err == nil {
			t.Errorf("accepted %s", in)
		}
	}
}

func TestIncarnationRoundTrip(t *testing.T) {
	r := sample()
	r.Incarnation = "abcdef0123456789"
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"schema":"kordon.reading/2"`) || !strings.Contains(string(b), `"incarnation":"abcdef0123456789"`) {
		t.Fatalf("v2 envelope expected: %s", b)
	}
	var back Reading
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Incarnation != r.Incarnation || back.Seq != r.Seq {
		t.Errorf("round trip: %+v", back)
	}
	// Without an incarnation the reading keeps its v1 form.
	v1, _ := json.Marshal(sample())
	if !strings.Contains(string(v1), `"schema":"kordon.reading/1"`) || strings.Contains(string(v1), "incarnation") {
		t.Errorf("v1 envelope expected: %s", v1)
	}
}

func TestMarshalWithoutPayloadFails(t *testing.T) {
	if _, err := json.Marshal(Reading{Box: "b"}); err == nil {
		t.Error("reading without payload marshalled")
	}
}
