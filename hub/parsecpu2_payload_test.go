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

// One reading's expressions run in turn on its one ruleInput (as match
// runs them), each giving what it gives alone on a map: what celPayload
// keeps between them changes no result.
func TestPayloadMembersServeExpressionsInTurn(t *testing.T) {
	plain := plainEnv(t)
	env, err := celEnv()
	if err != nil {
		t.Fatal(err)
	}
	r := varsReading("temperature")
	for _, pj := range varsPayloads {
		in := ruleVars(r, nil)
		in.payload, in.adapter = &payload{members: membersOf(decodePayload(t, pj))}, env.CELTypeAdapter()
		for _, src := range varsExprs {
			ast, iss := env.Compile(src)
			if iss.Err() != nil {
				continue
			}
			prg, err := program(env, ast)
			if err != nil {
				t.Fatal(err)
			}
			past, _ := plain.Compile(src)
			pprg, err := plain.Program(past)
			if err != nil {
				t.Fatal(err)
			}
			want, _, wantErr := pprg.Eval(mapVars(r, decodePayload(t, pj)))
			got, _, gotErr := prg.Eval(in)
			sameResult(t, src, pj, "members in turn", got, gotErr, want, wantErr)
		}
	}
}
