package hub

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/kordon/kordon/internal/contract"
)

// TestAlertJSONMatchesMarshal: alertJSON (and refJSON, of each reading)
// writes what json.Marshal writes,
// byte for byte, for plain alerts and for every text and time it leaves
// to encoding/json; and it knows every field of contract.Alert.
func TestAlertJSONMatchesMarshal(t *testing.T) {
	// A field added to the contract (or a tag changed) must be written by
	// alertJSON too: these are the ones it writes, in order.
	want := []string{"schema", "id", "crossing", "box", "device", "rule", "severity", "summary", "time", "raised", "readings", "state"}
	var got []string
	at := reflect.TypeFor[contract.Alert]()
	for i := range at.NumField() {
		got = append(got, at.Field(i).Tag.Get("json"))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("contract.Alert's fields are %q, alertJSON writes %q: teach it the new ones", got, want)
	}
	if got, want := reflect.TypeFor[contract.ReadingRef]().NumField(), 4; got != want {
		t.Fatalf("contract.ReadingRef has %d fields, alertJSON writes %d", got, want)
	}

	origin := time.Date(2026, 12, 2, 1, 4, 41, 778917268, time.UTC)
	plain := contract.Alert{Schema: contract.AlertV1, ID: "01a23448b41e4084a3bf89a52cae545f", Crossing: "kg-test", Box: "box-001",
		Device: "reader1", Rule: "document-expired", Severity: "medium", Summary: "Expired document presented",
		Time: origin, Raised: origin.Add(time.Millisecond), State: "open",
		Readings: []contract.ReadingRef{{Box: "box-001", Device: "reader1", Incarnation: "3f9a1c0d7e2b4a65", Seq: 1<<64 - 1}, {Box: "box-001", Device: "trace1", Seq: 0}}}
	cases := map[string]func(a *contract.Alert){
		"plain":            func(a *contract.Alert) {},
		"no readings":      func(a *contract.Alert) { a.Readings = nil },
		"empty readings":   func(a *contract.Alert) { a.Readings = []contract.ReadingRef{} },
		"empty texts":      func(a *contract.Alert) { *a = contract.Alert{Time: a.Time, Raised: a.Raised} },
		"zero times":       func(a *contract.Alert) { a.Time, a.Raised = time.Time{}, time.Time{} },
		"html":             func(a *contract.Alert) { a.Summary = `<b>"alarm"</b> & more \ more` },
		"unicode":          func(a *contract.Alert) { a.Summary = "Spur: TNT, RDX — Ünterführung \u2028 \u2029 ✓" },
		"invalid utf-8":    func(a *contract.Alert) { a.Summary = "bad \xff\xfe text" },
		"controls":         func(a *contract.Alert) { a.Summary = "tab\tnl\nnul\x00bell\x07del\x7f\b\f\r" },
		"text in a ref":    func(a *contract.Alert) { a.Readings[0].Device = "dev<1>" },
		"whole seconds":    func(a *contract.Alert) { a.Time = origin.Truncate(time.Second) },
		"a zone":           func(a *contract.Alert) { a.Raised = a.Raised.In(time.FixedZone("IST", 5*3600+1800)) },
		"a zone west":      func(a *contract.Alert) { a.Raised = a.Raised.In(time.FixedZone("", -9*3600)) },
		"zone seconds":     func(a *contract.Alert) { a.Raised = a.Raised.In(time.FixedZone("LMT", 3600+17)) },
		"zone of 24 hours": func(a *contract.Alert) { a.Raised = a.Raised.In(time.FixedZone("", 24*3600)) },
		"year 10000":       func(a *contract.Alert) { a.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"year -1":          func(a *contract.Alert) { a.Raised = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) },
	}
	for name, edit := range cases {
		a := plain
		a.Readings = append([]contract.ReadingRef(nil), plain.Readings...)
		edit(&a)
		same(t, name, &a)
	}
}

func same(t *testing.T, name string, a *contract.Alert) {
	t.Helper()
	for _, r := range a.Readings {
		if want, _ := json.Marshal(r); !bytes.Equal(refJSON(&r), want) {
			t.Errorf("%s: refJSON\n%s\njson.Marshal\n%s", name, refJSON(&r), want)
		}
	}
	want, wantErr := json.Marshal(a)
	got, err := alertJSON(a)
	if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
		t.Errorf("%s: alertJSON\n%s (%v)\njson.Marshal\n%s (%v)", name, got, err, want, wantErr)
	}
}

func FuzzAlertJSON(f *testing.F) {
	f.Add("kordon.alert/1", "01a23448b41e4084a3bf89a52cae545f", "box-001", "reader1", "Expired document presented", "3f9a1c0d7e2b4a65", uint64(7), int64(1764637481778917268), 0)
	f.Add("", "", "<&>", "\u2028", "bad \xff text\x00", "", uint64(0), int64(-62135596800000000), -3600*5)
	f.Fuzz(func(t *testing.T, schema, id, box, device, summary, inc string, seq uint64, unixNano int64, off int) {
		at := time.Unix(0, unixNano).In(time.FixedZone("", off%(30*3600)))
		a := contract.Alert{Schema: schema, ID: id, Crossing: box + device, Box: box, Device: device, Rule: summary, Severity: inc,
			Summary: summary, Time: at, Raised: at.UTC(), State: schema,
			Readings: []contract.ReadingRef{{Box: box, Device: device, Incarnation: inc, Seq: seq}}}
		same(t, "fuzzed", &a)
	})
}

// BenchmarkAlertJSON is alertJSON beside json.Marshal, for an alert of
// the hubbench round (a correlation's: two readings).
func BenchmarkAlertJSON(b *testing.B) {
	at := time.Date(2026, 12, 2, 1, 4, 41, 778917268, time.UTC)
	a := contract.Alert{Schema: contract.AlertV1, ID: "01a23448b41e4084a3bf89a52cae545f", Crossing: "kg-test", Box: "box-001",
		Device: "trace1", Rule: "document-with-inspection-alarm", Severity: "high",
		Summary: "Inspection alarm at a booth while a document was being checked", Time: at, Raised: at, State: "open",
		Readings: []contract.ReadingRef{{Box: "box-001", Device: "reader1", Incarnation: "3f9a1c0d7e2b4a65", Seq: 17}, {Box: "box-001", Device: "trace1", Incarnation: "3f9a1c0d7e2b4a65", Seq: 29}}}
	b.Run("alertJSON", func(b *testing.B) {
		for b.Loop() {
			alertJSON(&a)
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(&a)
		}
	})
}
