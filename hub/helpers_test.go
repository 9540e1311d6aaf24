package hub

import (
	"log/slog"
	"testing"

	"github.com/kordon/kordon/internal/logging"
)

// runHub runs a hub on cfg until the test ends; log nil discards.
// (Tests outside this package use e2e/stationtest, which imports hub.)
func runHub(t testing.TB, cfg *Config, log *slog.Logger) *Hub {
	t.Helper()
	if log == nil {
		log = logging.Discard()
	}
	h, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}
