package booth

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/reading"
)

type doc struct {
	Number string `json:"number" personal:"true"`
	Valid  bool   `json:"valid"`
}

func (doc) Kind() string { return "document" }

// TestReadingClearedAfterClearAfter: the booth drops a traveller's reading
// (personal data included) clear_after after it arrived, and says so to the
// screen; a newer reading is not cleared by an older one's timer.
func TestReadingClearedAfterClearAfter(t *testing.T) {
	b := New("booth-01", Config{ClearAfter: Duration(100 * time.Millisecond)})
	defer b.Close()
	ch, cancel := b.subscribe()
	defer cancel()
	b.Availability(contract.DeviceAvailability{Device: "reader1", State: "up"})
	b.Reading(reading.Reading{Box: "booth-01", Device: "reader1", Seq: 1, Origin: time.Now(), Raw: []byte("RAW"), Payload: doc{Number: "L898902C3", Valid: true}})
	if s := b.snapshot(); !bytes.Contains(s, []byte("L898902C3")) || bytes.Contains(s, []byte("UkFX")) {
		t.Fatalf("snapshot should show the document without raw bytes: %s", s)
	}
	timeout := time.After(10 * time.Second)
	for cleared := false; !cleared; {
		select {
		case js := <-ch:
			cleared = bytes.Contains(js, []byte(`"cleared":true`))
			if cleared && bytes.Contains(js, []byte("L898902C3")) {
				t.Fatalf("clear event still carries the document: %s", js)
			}
		case <-timeout:
			t.Fatal("reading not cleared")
		}
	}
	if s := b.snapshot(); bytes.Contains(s, []byte("L898902C3")) || !bytes.Contains(s, []byte(`"state":"up"`)) {
		t.Errorf("after clearing: %s", s)
	}
}

func TestServesPageWithoutCaching(t *testing.T) {
	b := New("booth-01", Config{})
	for _, p := range []string{"/", "/booth/state", "/booth/static/booth.js", "/booth/i18n/ru.json", "/booth/i18n/i18n.js"} {
		w := httptest.NewRecorder()
		b.ServeHTTP(w, httptest.NewRequest("GET", p, nil))
		personal := !strings.Contains(p, "/i18n/") // translations hold no personal data
		if w.Code != 200 || personal && w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: %d, Cache-Control %q", p, w.Code, w.Header().Get("Cache-Control"))
		}
	}
	w := httptest.NewRecorder()
	b.ServeHTTP(w, httptest.NewRequest("POST", "/", strings.NewReader("x")))
	if w.Code != 405 {
		t.Errorf("POST: %d", w.Code)
	}
}

// TestHubLinkReachesTheScreen: the screen hears when the box loses the hub
// (the officer must be told the BLO is not receiving) and when it is back;
// a box still trying for the first time stays "never".
func TestHubLinkReachesTheScreen(t *testing.T) {
	b := New("booth-01", Config{})
	defer b.Close()
	ch, cancel := b.subscribe()
	defer cancel()
	b.Hub(false)
	if s := b.snapshot(); !bytes.Contains(s, []byte(`"hub":{"state":"never"`)) {
		t.Fatalf("before any connection: %s", s)
	}
	b.Hub(true)
	b.Hub(true) // no change, no event
	b.Hub(false)
	var got []string
	for len(got) < 2 {
		select {
		case js := <-ch:
			got = append(got, string(js))
		case <-time.After(5 * time.Second):
			t.Fatalf("events: %v", got)
		}
	}
	if !strings.Contains(got[0], `"state":"connected"`) || !strings.Contains(got[1], `"state":"lost"`) {
		t.Errorf("events %v, want connected then lost", got)
	}
	select {
	case js := <-ch:
		t.Errorf("extra event %s", js)
	default:
	}
}

// TestWatchStreamsRawBesideDecoded: the technician's stream carries each
// reading with its raw bytes, only for the device asked for; an unknown
// device is refused.
func TestWatchStreamsRawBesideDecoded(t *testing.T) {
	b := New("booth-01", Config{})
	defer b.Close()
	b.Availability(contract.DeviceAvailability{Device: "reader1", State: "up"})
	b.Availability(contract.DeviceAvailability{Device: "reader2", State: "up"})
	w := httptest.NewRecorder()
	b.ServeHTTP(w, httptest.NewRequest("GET", "/booth/watch/events?device=nope", nil))
	if w.Code != 404 {
		t.Errorf("unknown device: %d", w.Code)
	}
	ch, cancel := b.watch("reader1")
	defer cancel()
	b.Reading(reading.Reading{Box: "booth-01", Device: "reader2", Seq: 1, Origin: time.Now(), Raw: []byte("OTHER"), Payload: doc{Number: "X", Valid: true}})
	b.Reading(reading.Reading{Box: "booth-01", Device: "reader1", Seq: 7, Origin: time.Now(), Raw: []byte("P<UTO"), Payload: doc{Number: "L898902C3", Valid: true}})
	select {
	case js := <-ch:
		if !bytes.Contains(js, []byte(`"raw_hex":"503c55544f"`)) || !bytes.Contains(js, []byte("L898902C3")) || !bytes.Contains(js, []byte(`"seq":7`)) {
			t.Errorf("frame %s, want reader1's raw bytes beside its reading", js)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no frame")
	}
	select {
	case js := <-ch:
		t.Errorf("a frame of another device: %s", js)
	default:
	}
}

type note struct {
	Text string `json:"text"`
	Name string `json:"name" personal:"true"`
}

func (note) Kind() string { return "note" }

// TestWithoutRawCutsOnlyRaw: the envelope shown is the one encoded, less
// its raw member, whatever the payload holds (even text that looks like
// a raw member).
func TestWithoutRawCutsOnlyRaw(t *testing.T) {
	for _, r := range []reading.Reading{
		{Box: "b", Device: "d", Seq: 1, Origin: time.Now(), Raw: []byte("P<UTO\r\n"), Payload: note{Text: `x,"raw":"AAAA" and "quotes"`, Name: "ERIKSSON"}},
		{Box: "b", Device: "d", Seq: 2, Origin: time.Now(), Raw: []byte{0, 1, 2, 255}, Payload: doc{Number: "L898902C3"}},
		{Box: "b", Device: "d", Seq: 3, Origin: time.Now(), Payload: note{Text: `,"raw":"`}},
	} {
		env, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var want map[string]json.RawMessage
		if err := json.Unmarshal(env, &want); err != nil {
			t.Fatal(err)
		}
		delete(want, "raw")
		got := withoutRaw(env, len(r.Raw) > 0)
		var gotM map[string]json.RawMessage
		if err := json.Unmarshal(got, &gotM); err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		if !reflect.DeepEqual(gotM, want) {
			t.Errorf("cut %s\n got %s", env, got)
		}
		if len(r.Raw) > 0 && bytes.Equal(got, env) {
			t.Error("raw not cut")
		}
	}
}
