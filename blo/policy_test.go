package blo

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kordon/kordon/internal/contract"
)

func TestPolicyErrorsNameFileLineField(t *testing.T) {
	cases := map[string]string{
		"policy: p\nneighbour: akzhol\nalert_fields: [summary, name]\n":              "x.yaml:3: alert_fields:",
		"policy: p\nneighbour: Ak Zhol\n":                                            "x.yaml:2: neighbour:",
		"policy: p\nneighbour: akzhol\nauto:\n  - {}\n":                              "x.yaml:4: auto:",
		"policy: p\nneighbour: akzhol\nreading_fields: [payload]\n":                  "x.yaml:3: reading_fields:",
		"policy: p\nneighbour: akzhol\npersonal_fields: [/payload/number]\n":         "x.yaml:3: personal_fields:",
		"policy: p\nneighbour: akzhol\nsecret_fields: []\n":                          "line 3: field secret_fields not found",
		"policy: p\nneighbour: akzhol\ndocument_key: {key_file: /nonexistent/key}\n": "x.yaml:3: document_key.key_file:",
		"neighbour: akzhol\n": "x.yaml:1: policy:",
		"policy: p\nneighbour: akzhol\nhandling_codes: [\"\"]\n":                            "x.yaml:3: handling_codes:",
		"policy: p\nneighbour: akzhol\nauto: [{rule: a}]\nmanual:\n  - {kind: x}\n  - {}\n": "x.yaml:6: manual:",
	}
	for src, want := range cases {
		_, err := ParsePolicy("x.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", src, err, want)
		}
	}
}

func testPolicy(t *testing.T) *Policy {
	p, err := LoadPolicy("testdata/kordai-akzhol.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPolicyDecides(t *testing.T) {
	p := testPolicy(t)
	for rule, want := range map[string]Decision{"rpm-alarm": ShareAuto, "document-watchlist": ShareAuto, "fever": ShareOnRequest} {
		if got := p.Decide(rule, "x"); got != want {
			t.Errorf("%s: %v, want %v", rule, got, want)
		}
	}
	p.Manual = nil
	if p.Decide("fever", "temperature") != NotShared {
		t.Error("an unnamed rule is shared")
	}
}

var passportReading = `{"schema":"kordon.reading/2","crossing":"kordai","box":"b1","device":"r1","seq":7,"kind":"document",
 "personal":["/payload/number","/payload/birth_date","/payload/primary_name","/raw"],
 "raw":"UDxVVE9FUklLU1NPTg==",
 "payload":{"number":"L898902C3","issuer":"UTO","birth_date":"1974-08-12","primary_name":"ERIKSSON","valid":true}}`

// Only the named fields cross; a personal field named without being in
// personal_fields, and every personal field not named, stay home; the
// document number crosses only as the keyed hash.
func TestShareCarriesOnlyPolicyFields(t *testing.T) {
	p := testPolicy(t)
	a := contract.Alert{ID: "abc", Crossing: "kordai", Box: "b1", Device: "r1", Rule: "document-watchlist",
		Severity: "high", Summary: "Watchlisted document presented", Readings: []contract.ReadingRef{{Box: "b1", Device: "r1", Seq: 7}}}
	s, err := p.Build("kordai", a, [][]byte{[]byte(passportReading)})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(s)
	for _, secret := range []string{"L898902C3", "ERIKSSON", "1974-08-12", "UDxVVE9FUklLU1NPTg", `"box"`} {
		if strings.Contains(string(js), secret) {
			t.Errorf("share carries %q: %s", secret, js)
		}
	}
	if s.Fields["/payload/issuer"] != "UTO" || s.AlertID != "kordai:abc" || s.Alert["summary"] == nil || s.Alert["device"] != "r1" {
		t.Errorf("share lacks what the policy names: %s", js)
	}
	if len(s.DocKeys) != 1 || len(s.DocKeys[0]) != 64 || s.KeyID == "" {
		t.Errorf("document key: %v %q", s.DocKeys, s.KeyID)
	}
	// With the number under personal_fields too, it crosses.
	p.PersonalFields = []string{"/payload/number"}
	s, _ = p.Build("kordai", a, [][]byte{[]byte(passportReading)})
	if s.Fields["/payload/number"] != "L898902C3" {
		t.Errorf("a personal field the policy names twice did not cross: %v", s.Fields)
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte("policy: p\nneighbour: akzhol\nauto: [{rule: a}]\nreading_fields: [/payload/x]\n"))
	f.Add([]byte("policy: p\nneighbour: akzhol\ndocument_key: {key_file: k}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := ParsePolicy("fuzz.yaml", src)
		if err == nil && p == nil {
			t.Fatal("nil policy without error")
		}
		if err != nil && !strings.HasPrefix(err.Error(), "fuzz.yaml") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}
