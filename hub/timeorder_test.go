package hub

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/kordon/kordon/hub/dash"
)

// TestSearchBoundsAreInstants: a search from a whole second finds an
// alert raised half a second into it, and a search up to the second
// before does not. Stored instants and bounds are compared as text.
func TestSearchBoundsAreInstants(t *testing.T) {
	h := dashHub(t)
	from := time.Date(2026, 11, 2, 16, 0, 0, 0, time.UTC)
	for id, at := range map[string]time.Time{
		"whole":   from,
		"half":    from.Add(500 * time.Millisecond),
		"before":  from.Add(-time.Nanosecond),
		"lastone": from.Add(time.Minute - 10*time.Microsecond),
	} {
		if err := h.store.addAlert(testAlert(id, at, "x")); err != nil {
			t.Fatal(err)
		}
	}
	got, err := dashStore{h.store, h.auth.redact}.SearchAlerts(context.Background(), dash.Query{From: from, To: from.Add(time.Minute), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range got {
		ids = append(ids, a.ID)
	}
	// Newest first.
	if want := []string{"lastone", "half", "whole"}; !slices.Equal(ids, want) {
		t.Errorf("alerts in [16:00:00, 16:01:00) = %v, want %v", ids, want)
	}
}

// TestOldTimesRewrittenOnce: a database whose instants an older hubd wrote
// in RFC 3339 with trailing zeros dropped is rewritten at start, once, so
// its rows sort and compare with the new ones.
func TestOldTimesRewrittenOnce(t *testing.T) {
	dir := t.TempDir()
	s, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	half := time.Date(2026, 11, 2, 16, 0, 0, 500_000_000, time.UTC)
	old := half.Format(time.RFC3339Nano) // "…16:00:00.5Z"
	for _, q := range []string{
		`INSERT INTO readings(box, incarnation, device, seq, kind, origin, received, quality, body) VALUES ('b', '', 'd', 1, 'temperature', ?1, ?1, 'good', '{}')`,
		`INSERT INTO alerts(id, box, device, rule, severity, state, raised, body, ack_at) VALUES ('a1', 'b', 'd', 'r', 'high', 'open', ?1, '{}', '')`,
		`INSERT INTO alert_log(alert_id, action, time) VALUES ('a1', 'raised', ?1)`,
		`PRAGMA user_version = 0`,
	} {
		if _, err := s.db.Exec(q, old); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s.close()

	s, err = openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := stamp(half) // "…16:00:00.500000000Z"
	var received, origin, raised, ackAt, logged string
	var version int
	if err := s.db.QueryRow(`SELECT received, origin FROM readings`).Scan(&received, &origin); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRow(`SELECT raised, ack_at FROM alerts`).Scan(&raised, &ackAt); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRow(`SELECT time FROM alert_log`).Scan(&logged); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]string{"received": received, "origin": origin, "raised": raised, "alert_log time": logged} {
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if ackAt != "" || version != 1 {
		t.Errorf("ack_at %q (want empty), user_version %d (want 1)", ackAt, version)
	}
	// Once: text written after the rewrite is left alone by the next start.
	if _, err := s.db.Exec(`UPDATE readings SET received = ?`, old); err != nil {
		t.Fatal(err)
	}
	s.close()
	s, err = openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if err := s.db.QueryRow(`SELECT received FROM readings`).Scan(&received); err != nil {
		t.Fatal(err)
	}
	if received != old {
		t.Errorf("a version 1 database was rewritten again: received %q", received)
	}
}
