package hub

import (
	"testing"
	"time"
)

// TestCorrelationWindowEdges: readings exactly the window apart pair; a
// reading of neither side drops the matches it finds past the window, so
// that a later reading older than it (a box's backlog) no longer pairs
// with them.
func TestCorrelationWindowEdges(t *testing.T) {
	rs := mustCompile(t, corrRules)
	feed(t, rs, "reader1", 1, 0, "document", `{"valid":true}`)
	if a := feed(t, rs, "trace1", 1, 2*time.Minute, "trace", `{"alarm":true}`); len(a) != 1 {
		t.Fatalf("document and alarm the window apart raised %d alerts, want 1", len(a))
	}
	feed(t, rs, "reader1", 2, 10*time.Minute, "document", `{"valid":true}`)
	feed(t, rs, "trace1", 2, 13*time.Minute, "trace", `{"alarm":false}`) // past the document's window
	if a := feed(t, rs, "trace1", 3, 11*time.Minute, "trace", `{"alarm":true}`); len(a) != 0 {
		t.Errorf("an alarm paired with a document dropped past the window: %+v", a)
	}
}
