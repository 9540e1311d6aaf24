package logging

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestRedactsPersonalKeysOnly(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, slog.LevelInfo)
	log.Info("command", "name", "reload-config", "device_name", "reader1", "primary_name", "ERIKSSON", "Number", "L898902C3", "birth_date", "740812")
	out := buf.String()
	for _, w := range []string{"name=reload-config", "device_name=reader1", "primary_name=[personal]", "Number=[personal]", "birth_date=[personal]"} {
		if !strings.Contains(out, w) {
			t.Errorf("missing %q in %s", w, out)
		}
	}
	for _, leak := range []string{"ERIKSSON", "L898902C3", "740812"} {
		if strings.Contains(out, leak) {
			t.Errorf("personal data %q in log: %s", leak, out)
		}
	}
}

func TestLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseLevel("verbose"); err == nil {
		t.Error("verbose accepted")
	}
	var buf bytes.Buffer
	New(&buf, slog.LevelWarn).Info("hidden")
	if buf.Len() != 0 {
		t.Errorf("info logged at warn level: %s", buf.String())
	}
}

// mochi's listeners log Warn("", "error", err): the line gets a message.
func TestLibraryFillsEmptyMessages(t *testing.T) {
	var buf bytes.Buffer
	log := Library(New(&buf, slog.LevelInfo).With("part", "broker"), "broker connection ended")
	log.Warn("", "error", "read connection: EOF")
	log.Warn("client store quota reached", "client", "x")
	out := buf.String()
	for _, w := range []string{`msg="broker connection ended: read connection: EOF" part=broker error="read connection: EOF"`, `msg="client store quota reached"`} {
		if !strings.Contains(out, w) {
			t.Errorf("missing %q in:\n%s", w, out)
		}
	}
	if strings.Contains(out, `msg=""`) {
		t.Errorf("empty message logged:\n%s", out)
	}
}
