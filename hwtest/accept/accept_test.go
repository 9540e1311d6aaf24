package accept

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kordon/kordon/drivers/all"
	"github.com/kordon/kordon/drivers/passport"
	"github.com/kordon/kordon/hub"
	"github.com/kordon/kordon/hwtest/harness"
	"github.com/kordon/kordon/hwtest/replay"
	"github.com/kordon/kordon/hwtest/trace"
)

const specimen = "../../drivers/passport/testdata/traces/line-td3-specimen.jsonl"

// booth is a simulated booth: two passport readers on pseudo-terminals and
// a real hub on loopback the box reports to.
type booth struct {
	dir     string
	readers map[string]*replay.PTY
	hub     *hub.Hub
	config  string
}

func newBooth(t *testing.T) *booth {
	t.Helper()
	b := &booth{dir: t.TempDir(), readers: map[string]*replay.PTY{}}
	hash, _ := bcrypt.GenerateFromPassword([]byte("booth-secret"), bcrypt.MinCost)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := hub.New(&hub.Config{Crossing: "testpoint", MQTT: "127.0.0.1:0", DataDir: filepath.Join(b.dir, "hub"),
		Boxes: []hub.BoxCreds{{Box: "booth1", PasswordHash: string(hash)}}}, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	b.hub = h
	var devs strings.Builder
	for _, id := range []string{"reader1", "reader2"} {
		p, err := replay.OpenPTY(filepath.Join(b.dir, id))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		b.readers[id] = p
		fmt.Fprintf(&devs, "  - id: %s\n    driver: mrz\n    transport: {type: serial, path: %s, baud: 9600}\n    options: {framing: line}\n", id, p.Path)
	}
	b.config = filepath.Join(b.dir, "edged.yaml")
	cfg := fmt.Sprintf("crossing: testpoint\nbox: booth1\nstate_dir: %s\nhub:\n  address: tcp://%s\n  username: booth1\n  password: booth-secret\ndevices:\n%s",
		filepath.Join(b.dir, "state"), h.MQTTAddr(), devs.String())
	os.WriteFile(b.config, []byte(cfg), 0o600)
	return b
}

func (b *booth) present(t *testing.T, reader, tracePath string) {
	tr, err := trace.ReadFile(tracePath)
	if err != nil {
		t.Error(err)
		return
	}
	if err := replay.Serial(context.Background(), tr, b.readers[reader].Device, replay.Options{}); err != nil {
		t.Error(err)
	}
}

// The whole acceptance session against a simulated booth: prompts are
// answered by a script that "presents" documents as a person would, and
// the report says what passed, what failed and why, without personal data.
func TestAcceptanceEndToEnd(t *testing.T) {
	b := newBooth(t)
	planPath := filepath.Join(b.dir, "plan.yaml")
	os.WriteFile(planPath, []byte(`acceptance: booth 1 commissioning
box_config: edged.yaml
up_within: 20s
steps:
  - prompt: Present the ICAO specimen passport to reader 1
    device: reader1
    within: 20s
    expect: {kind: document, quality: ok, payload: {valid: true, issuer: UTO}}
  - prompt: Present the specimen passport to reader 2
    device: reader2
    within: 2s
    expect: {kind: document, quality: ok, payload: {valid: true, primary_name: SMITH}}
  - prompt: Present the specimen passport to reader 2 once more
    device: reader2
    within: 300ms
    expect: {kind: document}
  - prompt: Check the foot pedal
    device: reader1
    expect: {kind: document}
`), 0o644)
	plan, err := LoadPlan(planPath)
	if err != nil {
		t.Fatal(err)
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	out := t.TempDir()
	type result struct {
		rep *Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := Run(context.Background(), plan, Options{In: inR, Out: outW, OutDir: out, Drivers: all.Drivers()})
		outW.Close()
		done <- result{rep, err}
	}()
	// The installer: act on each prompt, then press Enter.
	var transcript strings.Builder
	sc := bufio.NewScanner(outR)
	for sc.Scan() {
		line := sc.Text()
		transcript.WriteString(line + "\n")
		switch {
		case strings.HasPrefix(line, "Step 1/4:"):
			b.present(t, "reader1", specimen)
			io.WriteString(inW, "\n")
		case strings.HasPrefix(line, "Step 2/4:"):
			// reader 2 reads a document whose check digit fails.
			b.present(t, "reader2", "../../drivers/passport/testdata/traces/line-td3-bad-check.jsonl")
			io.WriteString(inW, "\n")
		case strings.HasPrefix(line, "Step 3/4:"):
			io.WriteString(inW, "\n") // nothing is presented: the deadline passes
		case strings.HasPrefix(line, "Step 4/4:"):
			io.WriteString(inW, "s\n")
		}
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, transcript.String())
	}
	rep := r.rep
	var got []Outcome
	for _, s := range rep.Steps {
		got = append(got, s.Outcome)
	}
	if fmt.Sprint(got) != fmt.Sprint([]Outcome{Passed, Failed, Failed, Skipped}) {
		t.Fatalf("outcomes %v\n%s", got, transcript.String())
	}
	if d := rep.Steps[1].Detail; !strings.Contains(d, "quality: want ok, got bad") || !strings.Contains(d, "/payload/valid: want true, got false") {
		t.Errorf("step 2 detail does not say what differed: %s", d)
	}
	if !strings.Contains(rep.Steps[1].Detail, "/payload/primary_name: differs (personal data, values withheld)") {
		t.Errorf("step 2 detail should withhold the personal field: %s", rep.Steps[1].Detail)
	}
	if d := rep.Steps[2].Detail; !strings.Contains(d, "no reading from reader2 within 300ms") {
		t.Errorf("step 3 detail: %s", d)
	}
	if !rep.Delivered() || rep.Passed() {
		t.Errorf("delivered %v passed %v: want delivered and not passed", rep.Delivered(), rep.Passed())
	}
	if n := b.hub.Counters().Readings; n != 3 {
		t.Errorf("hub stored %d readings, want 3 (two specimen reads, one bad document)", n)
	}

	md, err := os.ReadFile(rep.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NOT ACCEPTED", "| Crossing | testpoint |", "| Box | booth1 |", "| Firmware | dev |", "**PASS**", "**FAIL**", "**SKIPPED**"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	for _, personal := range []string{"ERIKSSON", "L898902C3", "740812"} {
		if strings.Contains(string(md), personal) || strings.Contains(transcript.String(), personal) {
			t.Errorf("personal data %q in the report or transcript", personal)
		}
	}

	// The session's traffic was recorded: reader1's trace replays into the
	// driver to the same readings as the original specimen trace.
	tr, err := trace.ReadFile(filepath.Join(out, "traces", "reader1.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	col, err := harness.ReplayThroughPTY(ctx, passport.Driver(), tr, 0)
	if err != nil {
		t.Fatal(err)
	}
	diff, err := harness.CompareGolden(col.Readings(), "../../drivers/passport/testdata/golden/line-td3-specimen.jsonl")
	if err != nil || diff != "" {
		t.Errorf("recorded session trace replays differently: %v\n%s", err, diff)
	}

	// The same report as HTML.
	path, err := rep.Write(out, "html")
	if err != nil {
		t.Fatal(err)
	}
	h, _ := os.ReadFile(path)
	if !strings.Contains(string(h), "<td>booth1</td>") || !strings.Contains(string(h), `class="fail"`) {
		t.Errorf("HTML report incomplete:\n%s", h)
	}
}

func TestExamplePlanLoads(t *testing.T) {
	p, err := LoadPlan("../../rigs/acceptance-booth.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 3 || p.Steps[1].Expect.Tolerance["/payload/celsius"] != 0.3 {
		t.Errorf("%+v", p)
	}
}
