package blo

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/kordon/kordon/internal/sqltime"
)

// TestOldTimesRewrittenOnce: instants an older version wrote with the
// fraction's trailing zeros dropped are rewritten at open, once.
func TestOldTimesRewrittenOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := openStore(path, "kz-a")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 2, 16, 0, 0, 500_000_000, time.UTC)
	old := at.Format(time.RFC3339Nano)
	for _, q := range []string{
		`INSERT INTO blo_incoming(id, from_site, alert_id, rule, received, body, seen_at) VALUES ('i1', 'cn-b', 'a1', 'r', ?1, '{}', ?1)`,
		`INSERT INTO blo_audit(at, direction, peer, kind, msg_id, alert_id, actor, policy, detail) VALUES (?1, 'sent', 'cn-b', 'share', 'm', 'a1', 'o', 'p', '')`,
		`DELETE FROM blo_state WHERE key = 'times'`,
	} {
		if _, err := s.db.Exec(q, old); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s.db.Close()
	s, err = openStore(path, "kz-a")
	if err != nil {
		t.Fatal(err)
	}
	var received, seenAt, ackAt, audited string
	if err := s.db.QueryRow(`SELECT received, seen_at, ack_at FROM blo_incoming`).Scan(&received, &seenAt, &ackAt); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRow(`SELECT at FROM blo_audit`).Scan(&audited); err != nil {
		t.Fatal(err)
	}
	want := sqltime.Format(at)
	if received != want || seenAt != want || audited != want || ackAt != "" {
		t.Errorf("received %q seen_at %q audit %q ack_at %q; want %q and ack_at empty", received, seenAt, audited, ackAt, want)
	}
	// Once: what is written after the rewrite is left as it is.
	if _, err := s.db.Exec(`UPDATE blo_audit SET at = ?`, old); err != nil {
		t.Fatal(err)
	}
	s.db.Close()
	s, err = openStore(path, "kz-a")
	if err != nil {
		t.Fatal(err)
	}
	defer s.db.Close()
	if err := s.db.QueryRow(`SELECT at FROM blo_audit`).Scan(&audited); err != nil {
		t.Fatal(err)
	}
	if audited != old {
		t.Errorf("rewritten again at the second open: %q", audited)
	}
}
