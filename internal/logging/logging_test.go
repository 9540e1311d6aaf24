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
