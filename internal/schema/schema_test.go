package schema

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/reading"
)

type doc struct {
	Number string `json:"number" personal:"true"`
	OK     bool   `json:"ok"`
}

func (doc) Kind() string { return "doc" }

var docSchema = []byte(`{"type":"object","required":["number","ok"],"properties":{"ok":{"type":"boolean"}}}`)

func validReading(t *testing.T) []byte {
	t.Helper()
	b, err := json.Marshal(reading.Reading{Crossing: "kz-a", Box: "b1", Device: "r1", Driver: "t", Seq: 1,
		Origin: time.Now(), Quality: reading.Quality{Status: reading.OK}, Payload: doc{Number: "X", OK: true}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidReadingPasses(t *testing.T) {
	v, err := New(map[string][]byte{"doc": docSchema})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate(validReading(t)); err != nil {
		t.Fatal(err)
	}
}

func TestInvalidMessagesFail(t *testing.T) {
	v, err := New(map[string][]byte{"doc": docSchema})
	if err != nil {
		t.Fatal(err)
	}
	good := string(validReading(t))
	cases := map[string]string{
		"not json":        `{"schema":`,
		"not an object":   `[1,2]`,
		"unknown schema":  `{"schema":"kordon.other/1"}`,
		"seq zero":        strings.Replace(good, `"seq":1`, `"seq":0`, 1),
		"bad quality":     strings.Replace(good, `"status":"ok"`, `"status":"great"`, 1),
		"bad box id":      strings.Replace(good, `"box":"b1"`, `"box":"B 1"`, 1),
		"extra field":     strings.Replace(good, `"seq":1`, `"seq":1,"extra":true`, 1),
		"payload type":    strings.Replace(good, `"ok":true`, `"ok":"yes"`, 1),
		"unknown kind":    strings.Replace(good, `"kind":"doc"`, `"kind":"other"`, 1),
		"bad origin time": strings.Replace(good, `"origin":"`, `"origin":"yesterday`, 1),
	}
	for name, msg := range cases {
		if err := v.Validate([]byte(msg)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestContractMessagesValidate(t *testing.T) {
	v, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	msgs := []any{
		contract.State{Schema: contract.StateV1, Crossing: "c", Box: "b", State: "online", Time: now,
			Devices: []contract.InventoryItem{{ID: "r1", Driver: "mrz", Kind: "document"}}},
		contract.DeviceAvailability{Schema: contract.AvailabilityV1, Box: "b", Device: "r1", State: "down", Reason: "unplugged", Time: now},
		contract.Alert{Schema: contract.AlertV1, ID: "a1", Crossing: "c", Box: "b", Device: "r1", Rule: "x", Severity: "high",
			Summary: "s", Time: now, Raised: now, State: "open", Readings: []contract.ReadingRef{{Box: "b", Device: "r1", Seq: 3}}},
		contract.Command{Schema: contract.CommandV1, ID: "c1", Name: "ping", Expires: now},
		contract.Reply{Schema: contract.ReplyV1, ID: "c1", Name: "ping", OK: true, Time: now},
	}
	for _, m := range msgs {
		b, _ := json.Marshal(m)
		if err := v.Validate(b); err != nil {
			t.Errorf("%T: %v", m, err)
		}
	}
	bad, _ := json.Marshal(contract.DeviceAvailability{Schema: contract.AvailabilityV1, Box: "b", Device: "r1", State: "sideways", Time: now})
	if v.Validate(bad) == nil {
		t.Error("availability state 'sideways' accepted")
	}
}

func TestReadingV2NeedsIncarnation(t *testing.T) {
	v, err := New(map[string][]byte{"doc": docSchema})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(inc string) []byte {
		b, err := json.Marshal(reading.Reading{Crossing: "kz-a", Box: "b1", Device: "r1", Driver: "t", Seq: 1, Incarnation: inc,
			Origin: time.Now(), Quality: reading.Quality{Status: reading.OK}, Payload: doc{Number: "X", OK: true}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if err := v.Validate(mk("0123456789abcdef")); err != nil {
		t.Errorf("v2 reading refused: %v", err)
	}
	if err := v.Validate(mk("")); err != nil {
		t.Errorf("v1 reading (no incarnation) refused: %v", err)
	}
	bad := strings.Replace(string(mk("0123456789abcdef")), `"incarnation":"0123456789abcdef",`, ``, 1)
	if err := v.Validate([]byte(bad)); err == nil {
		t.Error("v2 reading without incarnation accepted")
	}
	if err := v.Validate(mk("NOT/VALID")); err == nil {
		t.Error("malformed incarnation accepted")
	}
}
