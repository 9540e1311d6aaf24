package booth

import (
	"bytes"
	"net/http/httptest"
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
