package blo

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSubjectsArePseudonymous(t *testing.T) {
	container := `{"kind":"barcode","personal":["/payload/text"],"payload":{"type":"container","text":"MSCU 123456 5","code":"MSCU1234565","container":{"owner":"MSC","category":"U","serial":"123456","check":5}}}`
	trace := `{"kind":"trace_sample","personal":[],"payload":{"alarm":true,"substances":["RDX "," TNT"]}}`
	got := subjectsOf([]byte("0123456789abcdef"), [][]byte{[]byte(passportReading), []byte(container), []byte(trace)})
	js, _ := json.Marshal(got)
	if strings.Contains(string(js), "L898902C3") {
		t.Fatalf("a document number in the subjects: %s", js)
	}
	want := map[string]string{"container": "MSCU1234565", "substance": "rdx"}
	types := map[string]int{}
	for _, s := range got {
		types[s.Type]++
		if w, ok := want[s.Type]; ok && types[s.Type] == 1 && s.Value != w {
			t.Errorf("%s = %q, want %q", s.Type, s.Value, w)
		}
	}
	if types["document-key"] != 1 || types["container"] != 1 || types["substance"] != 2 {
		t.Fatalf("subjects %s", js)
	}
	if s := subjectsOf(nil, [][]byte{[]byte(passportReading)}); len(s) != 0 {
		t.Fatalf("a document key without a key: %v", s)
	}
}
