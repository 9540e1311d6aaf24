package hub

import (
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// The readings hubbench sends are parsed into their members, and the
// default rules and the watchlist judge them without a map of them made.
func TestReadingsKeepTheirMembers(t *testing.T) {
	p := benchParser(t)
	rs, err := defaultRules()
	if err != nil {
		t.Fatal(err)
	}
	h := &Hub{}
	ih := &ingestHook{parse: p, rules: rs, watch: h.watchlistAlerts}
	for _, r := range benchReadings(t) {
		j := ih.readingJob(benchBox, r.device, packets.Packet{Payload: r.msg})
		if j.kind != jobReading {
			t.Fatalf("%s refused", r.name)
		}
		if pl := j.p.payload; pl.members == nil || pl.m != nil {
			t.Errorf("%s: payload as %d members and a map of %d", r.name, len(pl.members), len(pl.m))
		}
	}
}
