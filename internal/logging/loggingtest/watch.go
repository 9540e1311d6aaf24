// Package loggingtest has what tests of the parts that log need: a
// handler that lets a test wait for a message instead of sleeping.
package loggingtest

import (
	"context"
	"log/slog"
	"strings"
	"sync"
)

// Watch is a slog handler that closes a channel when a message containing
// a given text is logged: a test waits on the part's own account of an
// event.
type Watch struct {
	mu    sync.Mutex
	waits map[string]chan struct{}
}

// NewWatch is a Watch waiting for nothing yet.
func NewWatch() *Watch { return &Watch{waits: map[string]chan struct{}{}} }

// On is closed by the next message containing text.
func (w *Watch) On(text string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan struct{})
	w.waits[text] = ch
	return ch
}

func (w *Watch) Enabled(context.Context, slog.Level) bool { return true }
func (w *Watch) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *Watch) WithGroup(string) slog.Handler            { return w }

func (w *Watch) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for text, ch := range w.waits {
		if strings.Contains(r.Message, text) {
			close(ch)
			delete(w.waits, text)
		}
	}
	return nil
}
