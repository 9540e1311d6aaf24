package faults

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kordon/kordon/edge/outbox"
)

// TestDamagedStateJSONEdgedStarts: edged with an empty or truncated
// state.json starts (it used to refuse), under a new incarnation, and keeps
// taking readings; the readings it had taken are still in its outbox.
func TestDamagedStateJSONEdgedStarts(t *testing.T) {
	for name, damage := range map[string]func([]byte) []byte{
		"empty":     func([]byte) []byte { return nil },
		"truncated": func(b []byte) []byte { return b[:len(b)/2] },
	} {
		t.Run(name, func(t *testing.T) {
			s := newStation(t, "reader1")
			s.startBox() // no hub: readings stay in the outbox
			d := s.devices[0]
			for n := range 5 {
				d.write(n)
			}
			eventually(t, 30*time.Second, "5 documents taken", func() bool { return s.taken() >= 5 })
			st, _ := s.status()
			old := st.Outbox.Incarnation
			s.box.stop(t)

			p := filepath.Join(s.dir, "state", "state.json")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(p, damage(b), 0o600)
			s.startBox()
			st, err = s.status()
			if err != nil {
				t.Fatal(err)
			}
			if st.Outbox.Incarnation == old || st.Outbox.IncarnationReason != outbox.IncStateCorrupt {
				t.Fatalf("after a damaged state.json: incarnation %s (%s), before %s", st.Outbox.Incarnation, st.Outbox.IncarnationReason, old)
			}
			if st.Outbox.Records != 5 {
				t.Fatalf("%d readings in the outbox, want the 5 taken before", st.Outbox.Records)
			}
			eventually(t, 30*time.Second, "reader1 up", func() bool { return s.availability("reader1") == "up/" })
			d.write(100)
			eventually(t, 30*time.Second, "a new reading taken", func() bool {
				st, err := s.status()
				return err == nil && st.LastSeq["reader1"] == 1
			})
		})
	}
}
