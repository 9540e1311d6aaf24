package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestHelpAndExitCodes(t *testing.T) {
	for _, c := range []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{"-h"}, 0, "hwtest decode -driver NAME", ""},
		{[]string{"--help"}, 0, "hwtest COMMAND -h", ""},
		{[]string{"help", "replay"}, 0, "usage: hwtest replay", ""},
		{[]string{"decode", "-h"}, 0, "example:", ""},
		{[]string{"record", "-h"}, 0, "man in the middle", ""},
		{[]string{"replay", "--help"}, 0, "-fault", ""},
		{[]string{"run", "-h"}, 0, "Exits 1 when any reading", ""},
		{[]string{"accept", "-h"}, 0, "commissioning report", ""},
		{[]string{"bench", "-h"}, 0, "-hours", ""},
		{[]string{"drivers", "-h"}, 0, "usage: hwtest drivers", ""},
		{[]string{"-version"}, 0, "hwtest ", ""},
		{[]string{"decode", "-bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{[]string{"decode"}, 2, "", "give -driver"},
		{[]string{"replay", "x.jsonl"}, 2, "", "exactly one of -link or -port"},
		{[]string{"frob"}, 2, "", `unknown command "frob"`},
		{nil, 2, "", "usage:"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), c.args, strings.NewReader(""), &out, &errb)
		if code != c.code || !strings.Contains(out.String(), c.out) || !strings.Contains(errb.String(), c.err) {
			t.Errorf("%q: exit %d (want %d)\nstdout: %s\nstderr: %s", c.args, code, c.code, out.String(), errb.String())
		}
	}
}

// Garbage in: hwtest decode says that nothing decoded, and exits 1.
func TestDecodeGarbageFails(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"decode", "-driver", "mrz"}, strings.NewReader("\x00\x01garbage\r\nnot a passport\r\n"), &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "no reading decoded from 27 bytes of input with driver mrz") || strings.Contains(errb.String(), "map[") {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	if out.Len() != 0 {
		t.Errorf("garbage produced output: %s", out.String())
	}
}

// A replay waiting for a poll that does not come says what it waits for.
func TestReplayHintsWhileWaitingForPoll(t *testing.T) {
	link := filepath.Join(t.TempDir(), "reader")
	p := start(t, "replay", "-speed", "0", "-link", link, "../../drivers/passport/testdata/traces/line-trigger.jsonl")
	m := p.waitFor(t, regexp.MustCompile(`waiting for the host to send ([0-9a-f ]+) \(event \d+ of \d+\).*polling (\S+)\?`))
	if m[2] != link {
		t.Errorf("hint names %q, want the link %s", m[2], link)
	}
	p.stop(t)
}
