package hub

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/kordon/kordon/drivers"
	"github.com/kordon/kordon/hub/personal"
)

func TestRedactorPointersFromSchemas(t *testing.T) {
	r := newRedactor(drivers.PayloadSchemas())
	doc := r.fields.Of("document")
	for _, want := range []string{"/payload/number", "/payload/birth_date", "/payload/primary_name", "/payload/secondary_name", "/payload/rows"} {
		if !slices.Contains(doc, want) {
			t.Errorf("document's personal pointers %v lack %s", doc, want)
		}
	}
	if slices.Contains(doc, "/payload/issuer") {
		t.Error("issuer marked personal")
	}
	if len(r.fields.Of("barcode")) == 0 {
		t.Error("barcode has no personal pointer")
	}
	if p, ok := r.fields.Of("temperature"), r.fields.Known("temperature"); !ok || len(p) != 0 {
		t.Errorf("temperature: %v, %v", p, ok)
	}
}

func FuzzRedactEnvelope(f *testing.F) {
	r := newRedactor(drivers.PayloadSchemas())
	f.Add([]byte(`{"kind":"document","payload":{"number":"L898902C3","rows":["x"]},"raw":"AAAA"}`))
	f.Add([]byte(`{"kind":"nosuch","payload":{"a":1}}`))
	f.Add([]byte(`{"kind":"document","personal":["/payload/x/y","/","","/payload/~1"],"payload":{"x":{"y":2}}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		out := r.envelope(b)
		if !json.Valid(out) {
			t.Fatalf("redacted form is not JSON: %q", out)
		}
		var m map[string]any
		if json.Unmarshal(out, &m) == nil {
			if _, has := m["raw"]; has {
				t.Fatal("raw bytes kept")
			}
			if kind, _ := m["kind"].(string); kind == "document" {
				if p, ok := m["payload"].(map[string]any); ok {
					if v, ok := p["number"]; ok && v != personal.Withheld {
						t.Fatalf("document number kept: %v", v)
					}
				}
			}
		}
	})
}
