package hub

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A rule that fails at run time (here: a string compared with a number)
// is not a quiet "false": it is logged once, counted, and shown with the
// rules; a field simply missing from another kind's payload stays quiet.
func TestRuleEvaluationErrorsAreReported(t *testing.T) {
	rs := mustCompile(t, `rules:
  - id: broken
    when: kind == "temperature" && payload.celsius > "38"
    severity: high
  - id: fever
    when: kind == "temperature" && payload.fever
    severity: medium
  - id: field-of-another-model
    when: kind == "temperature" && payload.ambient > 30.0
    severity: low
`)
	var logs bytes.Buffer
	rs.errs.log = slog.New(slog.NewTextHandler(&logs, nil))
	for i := range 5 {
		feed(t, rs, "therm1", uint64(i+1), time.Duration(i)*time.Second, "temperature", `{"celsius": 39.5, "fever": true}`)
	}
	feed(t, rs, "reader1", 9, 10*time.Second, "document", `{"valid": true}`)
	info := rs.info()
	if e := info.Errors["broken"]; e.Count != 5 || e.Last == "" {
		t.Fatalf("rule errors %+v, want broken counted 5 times with its error", info.Errors)
	}
	if _, ok := info.Errors["field-of-another-model"]; ok {
		t.Fatalf("a field missing from a payload is reported as an error: %+v", info.Errors)
	}
	if _, ok := info.Errors["fever"]; ok {
		t.Fatalf("a rule that evaluated fine is reported: %+v", info.Errors)
	}
	if n := strings.Count(logs.String(), "rule evaluation failed"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, logs.String())
	}
}
