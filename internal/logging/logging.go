// Package logging sets up structured logs. Personal data never reaches a
// log: code logs identities (box, device, seq, kind), never payloads, and
// this handler also blanks any attribute whose key is one that carries
// personal data, as a second line of defence against a careless log call.
package logging

import (
	"context"
	"fmt"
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

// personalKeys are the attribute names that carry personal data: the
// personal fields of the reading schemas (docs/schema.md) and the raw
// forms they come from. An explicit list, not a substring match, so
// "name" of a command or "device_name" stay readable.
func personalKey(k string) bool {
	switch strings.ToLower(k) {
	case "mrz", "payload", "raw", "rows", "read", "text", "number", "document_number", "optional_data", "optional_data_2", "birth_date", "date_of_birth", "primary_name", "secondary_name", "surname", "given_names", "full_name", "candidate", "candidates", "personal",
		// mochi logs whole packets, payload included, under these keys.
		"pk", "packet":
		return true
	}
	return false
}

// ParseLevel reads a log level as written in a flag or config: debug,
// info, warn or error.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not a log level (debug, info, warn or error)", s)
}

// Discard is a logger for tests that do not look at logs.
func Discard() *slog.Logger { return slog.New(discard{}) }

type discard struct{}

func (discard) Enabled(context.Context, slog.Level) bool  { return false }
func (discard) Handle(context.Context, slog.Record) error { return nil }
func (d discard) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discard) WithGroup(string) slog.Handler           { return d }

// Library wraps the logger handed to a third-party library. Records the
// library logs without a message (mochi's listeners log Warn("", "error",
// err) when a connection ends badly) get msg, with the error's text, so
// the line says what happened; everything else passes through.
func Library(l *slog.Logger, msg string) *slog.Logger {
	return slog.New(filled{h: l.Handler(), msg: msg})
}

type filled struct {
	h   slog.Handler
	msg string
}

func (f filled) Enabled(ctx context.Context, l slog.Level) bool { return f.h.Enabled(ctx, l) }

func (f filled) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "" {
		msg := f.msg
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "error" || a.Key == "err" {
				msg += ": " + a.Value.String()
				return false
			}
			return true
		})
		nr := slog.NewRecord(r.Time, r.Level, msg, r.PC)
		r.Attrs(func(a slog.Attr) bool { nr.AddAttrs(a); return true })
		r = nr
	}
	return f.h.Handle(ctx, r)
}

func (f filled) WithAttrs(as []slog.Attr) slog.Handler {
	return filled{h: f.h.WithAttrs(as), msg: f.msg}
}

func (f filled) WithGroup(name string) slog.Handler {
	return filled{h: f.h.WithGroup(name), msg: f.msg}
}
