package hub

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/kordon/kordon/drivers"
	"github.com/kordon/kordon/internal/contract"
)

// A document stored before its schema marked the OCR candidates personal
// carries the old list: candidates (a document number's characters as
// read and as corrected) are not in it.
const candidatesStoredBefore = `{"schema":"kordon.reading/2","crossing":"kz-test","box":"booth-1","device":"reader1","driver":"mrz","incarnation":"life-1","seq":7,` +
	`"origin":"2026-11-01T09:00:00Z","clock":"synced","kind":"document","quality":{"status":"ok"},` +
	`"personal":["/payload/number","/payload/birth_date","/payload/primary_name","/payload/secondary_name","/payload/optional_data","/payload/rows"],` +
	`"payload":{"number":"L898902C3","birth_date":"1974-08-12","primary_name":"ERIKSSON","secondary_name":"ANNA MARIA","optional_data":"ZE184226B",` +
	`"rows":["P<UTO…"],"candidates":[{"check":"number","field":"number","position":3,"read":"L8989O2C3","candidate":"L898902C3"}]}}`

func storeOldDocument(t *testing.T, s *store) contract.ReadingRef {
	t.Helper()
	if _, err := s.db.Exec(`INSERT INTO readings(box, incarnation, device, seq, kind, origin, received, quality, body) VALUES ('booth-1', 'life-1', 'reader1', 7, 'document', '', '', 'ok', ?)`, candidatesStoredBefore); err != nil {
		t.Fatal(err)
	}
	return contract.ReadingRef{Box: "booth-1", Incarnation: "life-1", Device: "reader1", Seq: 7}
}

// TestStoredReadingsAreWithheldByTodaysSchema: what is personal is the
// schema's word as it is now, also for readings stored before the schema
// marked a field: the dashboard withholds their candidates, and the BLO's
// shares are built from an envelope that names them personal.
func TestStoredReadingsAreWithheldByTodaysSchema(t *testing.T) {
	s, err := openStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	ref := storeOldDocument(t, s)
	red := newRedactor(drivers.PayloadSchemas())

	shown, err := dashStore{s, red}.Readings(context.Background(), []contract.ReadingRef{ref})
	if err != nil || len(shown) != 1 {
		t.Fatalf("dashboard readings: %d, %v", len(shown), err)
	}
	for _, secret := range []string{"L8989O2C3", "L898902C3", "ERIKSSON"} {
		if strings.Contains(string(shown[0]), secret) {
			t.Errorf("the dashboard shows %q of a stored document: %s", secret, shown[0])
		}
	}

	shared, err := bloSource{s.db, red}.Readings(context.Background(), []contract.ReadingRef{ref})
	if err != nil || len(shared) != 1 {
		t.Fatalf("BLO readings: %d, %v", len(shared), err)
	}
	var env struct {
		Personal []string       `json:"personal"`
		Payload  map[string]any `json:"payload"`
	}
	if err := json.Unmarshal(shared[0], &env); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(env.Personal, "/payload/candidates") || !slices.Contains(env.Personal, "/payload/number") {
		t.Errorf("the envelope the BLO shares from names %v personal; want the schema's, candidates included", env.Personal)
	}
	if env.Payload["number"] != "L898902C3" {
		t.Errorf("the BLO's envelope lost its values (the policy withholds, not the source): %v", env.Payload)
	}
}
