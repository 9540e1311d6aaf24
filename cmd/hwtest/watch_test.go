package main

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kordon/kordon/edge/booth"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/reading"
)

// signalWriter collects what is written and closes seen once it contains want.
type signalWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func newSignalWriter(want string) *signalWriter {
	return &signalWriter{want: want, seen: make(chan struct{})}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

type mrzDoc struct {
	Number string `json:"number"`
}

func (mrzDoc) Kind() string { return "document" }

// TestWatchShowsRawBesideDecoded: hwtest watch against a box prints each
// reading as it arrives, its bytes as a hex dump beside the decoded
// payload; an unknown device and an address that is no box are refused
// with a clear error.
func TestWatchShowsRawBesideDecoded(t *testing.T) {
	b := booth.New("booth-01", booth.Config{})
	defer b.Close()
	b.Availability(contract.DeviceAvailability{Device: "reader1", State: "up"})
	srv := httptest.NewServer(b)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stdout, stderr := newSignalWriter("decoded:"), newSignalWriter("waiting for readings")
	done := make(chan error, 1)
	go func() { done <- watchCmd(ctx, []string{"-box", srv.URL, "-device", "reader1"}, stdout, stderr) }()
	select {
	case <-stderr.seen:
	case <-ctx.Done():
		t.Fatalf("never connected: %s", stderr.String())
	}
	b.Reading(reading.Reading{Box: "booth-01", Device: "reader1", Seq: 3, Origin: time.Now(), Raw: []byte("P<UTOERIKSSON\r\n"), Payload: mrzDoc{Number: "L898902C3"}})
	select {
	case <-stdout.seen:
	case <-ctx.Done():
		t.Fatalf("no frame printed: %s", stdout.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("watch ended with %v", err)
	}
	out := stdout.String()
	for _, want := range []string{"reader1 #3", "50 3c 55 54 4f 45 52 49", "|P<UTOERIKSSON..|", `"number":"L898902C3"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	var errb bytes.Buffer
	err := watchCmd(context.Background(), []string{"-box", srv.URL, "-device", "nope"}, &errb, &errb)
	if err == nil || !strings.Contains(err.Error(), `no device "nope"`) {
		t.Errorf("unknown device: %v", err)
	}
	notBox := httptest.NewServer(nil)
	defer notBox.Close()
	if err := watchCmd(context.Background(), []string{"-box", notBox.URL}, &errb, &errb); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("not a box: %v", err)
	}
	if err := watchCmd(context.Background(), []string{"-box", "booth-01:8081"}, &errb, &errb); err == nil || !strings.Contains(err.Error(), "http://HOST:PORT") {
		t.Errorf("address without scheme: %v", err)
	}
	var exit *exitError
	if err := watchCmd(context.Background(), nil, &errb, &errb); !errors.As(err, &exit) || exit.code != 2 {
		t.Errorf("no -box: %v", err)
	}
}
