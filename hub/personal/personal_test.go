package personal

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/kordon/kordon/drivers"
)

func TestDocumentSchemaPointers(t *testing.T) {
	f, err := FromSchemas(drivers.PayloadSchemas())
	if err != nil {
		t.Fatal(err)
	}
	got := f.Of("document")
	for _, want := range []string{"/payload/number", "/payload/primary_name", "/payload/secondary_name", "/payload/birth_date", "/payload/rows", "/raw"} {
		if !slices.Contains(got, want) {
			t.Errorf("document pointers %v lack %s", got, want)
		}
	}
	if slices.Contains(got, "/payload/issuer") {
		t.Errorf("issuer marked personal: %v", got)
	}
	if p := f.Of("temperature"); len(p) != 0 {
		t.Errorf("temperature has personal fields %v", p)
	}
}

func TestRedactCopiesAndFollowsArrays(t *testing.T) {
	schema := `{"$defs":{"who":{"type":"object","properties":{"name":{"type":"string","x-personal":true}}}},
		"properties":{"people":{"type":"array","items":{"$ref":"#/$defs/who"}},"n":{"type":"integer"}}}`
	ptrs, err := Pointers([]byte(schema))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ptrs, []string{"/payload/people/*/name"}) {
		t.Fatalf("pointers %v", ptrs)
	}
	var doc map[string]any
	json.Unmarshal([]byte(`{"raw":"AAAA","payload":{"n":1,"people":[{"name":"ANNA"},{"name":"OLGA"},{}]}}`), &doc)
	out := Redact(doc, append(ptrs, "/raw", "/payload/missing/deeper"))
	b, _ := json.Marshal(out)
	if strings.Contains(string(b), "ANNA") || strings.Contains(string(b), "OLGA") || strings.Contains(string(b), "raw") {
		t.Fatalf("redacted %s", b)
	}
	orig, _ := json.Marshal(doc)
	if !strings.Contains(string(orig), "ANNA") || !strings.Contains(string(orig), "AAAA") {
		t.Fatalf("the original was modified: %s", orig)
	}
}

func FuzzRedact(f *testing.F) {
	f.Add(`{"payload":{"a":[{"b":1}]},"raw":"x"}`, "/payload/a/*/b")
	f.Add(`{"payload":[1,2]}`, "/payload/*")
	f.Fuzz(func(t *testing.T, js, ptr string) {
		var doc map[string]any
		if json.Unmarshal([]byte(js), &doc) != nil || doc == nil {
			return
		}
		before, _ := json.Marshal(doc)
		Redact(doc, []string{ptr})
		after, _ := json.Marshal(doc)
		if string(before) != string(after) {
			t.Fatalf("input modified")
		}
	})
}
