package hub

import (
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/bcrypt"

	"github.com/kordon/kordon/internal/contract"
)

// TestOldLifeHolesLostAcrossRestart: a box leaves a hole in one life, the
// hub restarts, and the box comes back under a new incarnation. The hole
// can never be filled: it is recorded lost, once, however often the hub
// restarts; and the hub asks the box for the old life's tail, recording as
// lost what the box answers it no longer holds.
func TestOldLifeHolesLostAcrossRestart(t *testing.T) {
	start := restartableHub(t)
	topic := contract.Readings(testCrossing, "booth1", "reader1")
	a, b, c := "aaaaaaaa77777777", "bbbbbbbb88888888", "cccccccc99999999"

	h := start()
	box := boxClient(t, h, "booth1")
	mustPublish(t, box, topic, badDocument(t, a, 1))
	mustPublish(t, box, topic, badDocument(t, a, 2))
	mustPublish(t, box, topic, badDocument(t, a, 5)) // 3-4 missing
	box.Disconnect(0)
	h.Close()

	h = start()
	box = boxClient(t, h, "booth1")
	cmds := make(chan contract.Command, 16)
	box.Subscribe(contract.Commands(testCrossing, "booth1"), 1, func(_ paho.Client, m paho.Message) {
		var cmd contract.Command
		if json.Unmarshal(m.Payload(), &cmd) == nil {
			cmds <- cmd
		}
	}).Wait()
	mustPublish(t, box, topic, badDocument(t, b, 1)) // the box's new life
	waitFor(t, "the old life's hole recorded lost", func() bool {
		lost, _ := h.LostReadings()
		return len(lost) == 1
	})
	lost, _ := h.LostReadings()
	if l := lost[0]; l.Incarnation != a || l.First != 3 || l.Last != 4 || l.Reason != "box began a new incarnation" {
		t.Fatalf("lost %+v, want %s 3-4 recorded for the ended life", lost, a)
	}
	// The tail: the hub asks the old life from 6; the box answers that it
	// no longer holds 6-9.
	var tail contract.Command
	deadline := time.After(20 * time.Second)
	for tail.Args["incarnation"] != a {
		select {
		case tail = <-cmds:
		case <-deadline:
			t.Fatal("no resend request for the old life's tail")
		}
	}
	if tail.Name != "resend" || tail.Args["from"] != "6" || tail.Args["device"] != "reader1" {
		t.Fatalf("tail request %+v, want resend from 6 of reader1", tail)
	}
	reply, _ := json.Marshal(contract.Reply{Schema: contract.ReplyV1, ID: tail.ID, Name: "resend", OK: true, Time: time.Now().UTC(),
		Result: map[string]string{"device": "reader1", "incarnation": a, "missing": "6-9"}})
	mustPublish(t, box, contract.Replies(testCrossing, "booth1"), reply)
	waitFor(t, "the old life's tail recorded lost", func() bool {
		lost, _ := h.LostReadings()
		return len(lost) == 2
	})
	lost, _ = h.LostReadings()
	if l := lost[1]; l.Incarnation != a || l.First != 6 || l.Last != 9 || l.Reason != "gone at box" {
		t.Fatalf("lost %+v, want %s 6-9 gone at box", lost, a)
	}
	box.Disconnect(0)
	h.Close()

	// Another restart and another life: nothing of the first is recorded
	// again (the metric counts each lost reading once).
	h = start()
	defer h.Close()
	box = boxClient(t, h, "booth1")
	mustPublish(t, box, topic, badDocument(t, b, 2))
	mustPublish(t, box, topic, badDocument(t, c, 1))
	mustPublish(t, box, topic, badDocument(t, c, 2))
	lost, _ = h.LostReadings()
	if len(lost) != 2 || h.gaps.lost.Load() != 0 {
		t.Fatalf("after another restart: lost %+v, counted again %d", lost, h.gaps.lost.Load())
	}
}

// TestLateOldLifeReadingAfterRestart: after a restart the first reading is
// a late one of the old life, then the new life begins: the old life's
// holes are what neither the database nor the late reading holds.
func TestLateOldLifeReadingAfterRestart(t *testing.T) {
	start := restartableHub(t)
	topic := contract.Readings(testCrossing, "booth1", "reader1")
	a, b := "aaaaaaaa12121212", "bbbbbbbb34343434"
	h := start()
	box := boxClient(t, h, "booth1")
	mustPublish(t, box, topic, badDocument(t, a, 1))
	mustPublish(t, box, topic, badDocument(t, a, 3)) // 2 missing
	box.Disconnect(0)
	h.Close()

	h = start()
	defer h.Close()
	box = boxClient(t, h, "booth1")
	mustPublish(t, box, topic, badDocument(t, a, 5)) // late, 4 missing
	mustPublish(t, box, topic, badDocument(t, b, 1))
	waitFor(t, "the old life's holes recorded lost", func() bool {
		lost, _ := h.LostReadings()
		return len(lost) == 2
	})
	lost, _ := h.LostReadings()
	if lost[0].First != 2 || lost[0].Last != 2 || lost[1].First != 4 || lost[1].Last != 4 {
		t.Fatalf("lost %+v, want %s 2 and 4", lost, a)
	}
}

// restartableHub starts a hub for booth1 (password pw1) on one data
// directory each time it is called: the same hub after a restart.
func restartableHub(t *testing.T) func() *Hub {
	dir := t.TempDir()
	hb, _ := bcrypt.GenerateFromPassword([]byte("pw1"), bcrypt.MinCost)
	return func() *Hub {
		cfg := &Config{Crossing: testCrossing, MQTT: "127.0.0.1:0", DataDir: dir, Boxes: []BoxCreds{{Box: "booth1", PasswordHash: string(hb)}}}
		h, err := New(cfg, slog.New(newLogWatch()))
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Start(); err != nil {
			t.Fatal(err)
		}
		return h
	}
}
