package trace

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	var b bytes.Buffer
	w, err := NewWriter(&b, Header{Driver: "mrz", Transport: "serial", Recorded: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC),
		USB: &USBDevice{Vendor: "413d", Product: "2107"}, Replay: &Pace{Speed: 1}})
	if err != nil {
		t.Fatal(err)
	}
	events := []Event{
		{T: 0, Note: "start"},
		{T: 500 * time.Millisecond, Dev: []byte("P<UTO\r\n")},
		{T: 510 * time.Millisecond, Dev: []byte{0x01, 0x03, 0xff}},
		{T: 520 * time.Millisecond, Host: []byte{0x01, 0x03, 0x00, 0x12}},
		{T: 600 * time.Millisecond, GPIO: &GPIO{Line: "GPIO17", Level: 1}},
		{T: 700 * time.Millisecond, USB: &USB{Endpoint: 0x81, Data: []byte{0x80, 0x80, 0x0e, 0x38}}},
		{T: 800 * time.Millisecond, Unplug: true},
		{T: 900 * time.Millisecond, Replug: true},
	}
	for _, e := range events {
		w.Write(e)
	}
	if !strings.Contains(b.String(), `"dev":"P<UTO\r\n"`) || !strings.Contains(b.String(), `"dev_hex":"01 03 ff"`) || !strings.Contains(b.String(), `"host_hex":"01 03 00 12"`) {
		t.Errorf("text and hex forms:\n%s", b.String())
	}
	tr, err := Read(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Events) != len(events) || tr.Header.Replay.Speed != 1 {
		t.Fatalf("%d events, header %+v", len(tr.Events), tr.Header)
	}
	for i, e := range tr.Events {
		if string(mustMarshal(e)) != string(mustMarshal(events[i])) {
			t.Errorf("event %d: %s, want %s", i, mustMarshal(e), mustMarshal(events[i]))
		}
	}
	if id, ok := tr.Header.USBID(); !ok || id.Vendor != "413d" {
		t.Errorf("usb id %+v", id)
	}
}

func mustMarshal(e Event) []byte { b, _ := e.MarshalJSON(); return b }

func TestErrorsNameTheLine(t *testing.T) {
	for src, want := range map[string]string{
		"":                    "empty trace",
		`{"trace":"other/1"}`: "line 1",
		`{"trace":"kordon.trace/1"}` + "\n{}\n{\"t\":1,\"dev\":\"a\",\"dev_hex\":\"61\"}": "line 3: both dev and dev_hex",
		`{"trace":"kordon.trace/1"}` + "\n{\"t\":2}\n{\"t\":1}":                           "line 3: time 1.000s goes back",
		`{"trace":"kordon.trace/1"}` + "\n{\"t\":1,\"colour\":1}":                         "line 2",
		`{"trace":"kordon.trace/1"}` + "\n{\"t\":1,\"dev_hex\":\"zz\"}":                   "line 2: dev_hex",
		`{"trace":"kordon.trace/1"}` + "\n{\"t\":-1}":                                     "negative",
	} {
		_, err := Read(strings.NewReader(src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Read(%q) = %v, want an error with %q", src, err, want)
		}
	}
}

func TestUSBIDFromOlderSource(t *testing.T) {
	h := Header{Source: "synthesised; 413D:2107 on interface 1"}
	if id, ok := h.USBID(); !ok || id.Vendor != "413d" || id.Product != "2107" {
		t.Errorf("%+v %v", id, ok)
	}
	if _, ok := (Header{Source: "no ids"}).USBID(); ok {
		t.Error("found ids in text without any")
	}
}

// FuzzRead: any input is a trace or an error naming a line, never a panic;
// a trace that reads writes back to one that reads the same.
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"trace":"kordon.trace/1","driver":"mrz"}` + "\n" + `{"t":0.5,"dev":"P<UTO\r\n"}` + "\n" + `{"t":0.6,"host_hex":"01 03"}`))
	f.Add([]byte(`{"trace":"kordon.trace/1"}` + "\n" + `{"t":1,"usb":{"ep":129,"hex":"80 80"}}` + "\n" + `{"t":2,"gpio":{"line":"X","level":1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		var out bytes.Buffer
		w, err := NewWriter(&out, tr.Header)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range tr.Events {
			if err := w.Write(e); err != nil {
				t.Fatal(err)
			}
		}
		back, err := Read(&out)
		if err != nil {
			t.Fatalf("written trace does not read back: %v\n%s", err, out.String())
		}
		if len(back.Events) != len(tr.Events) {
			t.Fatalf("%d events became %d", len(tr.Events), len(back.Events))
		}
	})
}
