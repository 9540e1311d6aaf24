// Package logging sets up structured logs. Personal data never reaches a
// log: code logs identities (box, device, seq, kind), never payloads, and
// this handler also blanks any attribute whose key names personal data, as
// a second line of defence against a careless log call.
package logging

import (
	"context"
	"io"
	"log/slog"
	"strings"
)

// New returns a text logger that writes to w.
func New(w io.Writer, level slog.Level) *slog.Logger {
	h := slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if personalKey(a.Key) {
				return slog.String(a.Key, "[personal]")
			}
			return a
		},
	})
	return slog.New(h)
}

// personalKeys are attribute names that would carry personal data.
var personalKeys = []string{"mrz", "name", "number", "birth", "document", "payload", "raw", "rows"}

func personalKey(k string) bool {
	k = strings.ToLower(k)
	for _, p := range personalKeys {
		if strings.Contains(k, p) {
			return true
		}
	}
	return false
}

// Discard is a logger for tests that do not look at logs.
func Discard() *slog.Logger { return slog.New(discard{}) }

type discard struct{}

func (discard) Enabled(context.Context, slog.Level) bool  { return false }
func (discard) Handle(context.Context, slog.Record) error { return nil }
func (d discard) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discard) WithGroup(string) slog.Handler           { return d }
