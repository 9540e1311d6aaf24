package hub

import (
	"context"
	"github.com/kordon/kordon/drivers"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"

	"github.com/kordon/kordon/blo"
	"github.com/kordon/kordon/hub/dash"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/logging"
)

// The BLO uplink takes what the hub commits: an officer's acknowledgement
// goes up as it is committed, and an alert committed without an event (as
// one committed just before a crash) goes up too, read from the alert log
// when the acknowledgement shows the gap in the log's sequence.
func TestBLOUplinkFromCommittedEvents(t *testing.T) {
	pw, _ := bcrypt.GenerateFromPassword([]byte("officer1pw"), bcrypt.MinCost)
	cfg := &Config{Crossing: "kordai", MQTT: "127.0.0.1:0", HTTP: "127.0.0.1:0", DataDir: t.TempDir(), BLO: &blo.Config{},
		Users: []dash.User{{User: "officer1", Role: dash.RoleOfficer, PasswordHash: string(pw)}}}
	h, err := New(cfg, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.store.addAlert(testAlert("a1", time.Now(), "x")); err != nil {
		t.Fatal(err)
	}
	if code := logIn(t, h, "officer1", "officer1pw").act("a1", "ack", "", true); code != 200 {
		t.Fatalf("ack = %d", code)
	}
	nc, err := h.BLO().Node().Connect(blo.HubAccount)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err := js.Stream(ctx, blo.UplinkStream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter("kordon.kordai.up.>"))
		if err != nil {
			t.Fatal(err)
		}
		alerts, log := info.State.Subjects[blo.UpSubject("kordai", blo.KindAlert)], info.State.Subjects[blo.UpSubject("kordai", blo.KindTransition)]
		if alerts == 1 && log == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("uplink: %d alerts, %d log entries; want 1 and 2 (raised, acknowledged)", alerts, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBLOSharesTheReadingOfTheAlertsLife: after a box is re-provisioned
// its sequence starts again, so two lives hold a reading with the same
// number; what goes to a neighbour with an alert is the alert's own
// reading, never the other life's (another traveller's document).
func TestBLOSharesTheReadingOfTheAlertsLife(t *testing.T) {
	s, err := openStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	for _, r := range []struct{ inc, body string }{{"life-1", `{"who":"earlier traveller"}`}, {"life-2", `{"who":"this alert's traveller"}`}} {
		if _, err := s.db.Exec(`INSERT INTO readings(box, incarnation, device, seq, kind, origin, received, quality, body) VALUES ('booth-1', ?, 'reader1', 5, 'document', '', '', 'good', ?)`, r.inc, r.body); err != nil {
			t.Fatal(err)
		}
	}
	for _, inc := range []string{"life-2", "life-1"} {
		got, err := bloSource{s.db, newRedactor(drivers.PayloadSchemas())}.Readings(context.Background(), []contract.ReadingRef{{Box: "booth-1", Incarnation: inc, Device: "reader1", Seq: 5}})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"life-1": `{"who":"earlier traveller"}`, "life-2": `{"who":"this alert's traveller"}`}[inc]
		if len(got) != 1 || string(got[0]) != want {
			t.Errorf("reading of %s: got %q, want %s", inc, got, want)
		}
	}
}
