// Package clitest runs every Kordon binary as a user would: built once,
// then executed with help, version, wrong flags and wrong input.
package clitest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kordon-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = dir
	build := exec.Command("go", "build", "-ldflags", "-X github.com/kordon/kordon/internal/version.Version=v9.8.7-test", "-o", dir+"/",
		"./cmd/edged", "./cmd/hubd", "./cmd/hwtest", "./cmd/kordon-certs", "./cmd/kordon-install", "./cmd/kordon-update")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the binaries: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func runBin(t *testing.T, stdin string, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.Dir = t.TempDir()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

var binaries = []string{"edged", "hubd", "hwtest", "kordon-certs", "kordon-install", "kordon-update"}

// -h and --help exit 0 with the usage on stdout; -version prints the build's
// version; an unknown flag exits 2 saying which.
func TestEveryBinaryHelpVersionAndBadFlag(t *testing.T) {
	for _, b := range binaries {
		for _, h := range []string{"-h", "--help"} {
			r := runBin(t, "", b, h)
			if r.code != 0 || !strings.Contains(r.stdout, "usage") {
				t.Errorf("%s %s: exit %d, stdout %q, stderr %q", b, h, r.code, r.stdout, r.stderr)
			}
		}
		if r := runBin(t, "", b, "-version"); r.code != 0 || strings.TrimSpace(r.stdout) != b+" v9.8.7-test" {
			t.Errorf("%s -version: exit %d, %q", b, r.code, r.stdout)
		}
		r := runBin(t, "", b, "-no-such-flag")
		if r.code != 2 || !strings.Contains(r.stderr, "no-such-flag") {
			t.Errorf("%s -no-such-flag: exit %d, stderr %q", b, r.code, r.stderr)
		}
	}
}

// Each binary's help lists its subcommands, and each subcommand has its own.
func TestSubcommandHelp(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"hubd", "-h"}, []string{"hubd passwd", "hubd watchlist", "hubd -check", "-log-level"}},
		{[]string{"hubd", "passwd", "-h"}, []string{"usage:", "never taken from the command line"}},
		{[]string{"hubd", "watchlist", "-h"}, []string{"hubd watchlist key"}},
		{[]string{"edged", "-h"}, []string{"edged -check", "-log-level", "-config"}},
		{[]string{"hwtest", "-h"}, []string{"hwtest record", "hwtest decode", "hwtest replay", "hwtest run", "hwtest accept", "hwtest drivers"}},
		{[]string{"hwtest", "decode", "-h"}, []string{"usage: hwtest decode", "example:", "-driver"}},
		{[]string{"kordon-certs", "-h"}, []string{"kordon-certs ca", "kordon-certs hub", "kordon-certs box"}},
		{[]string{"kordon-certs", "box", "-h"}, []string{"usage: kordon-certs box", "-box", "-dir"}},
		{[]string{"kordon-install", "-h"}, []string{"kordon-install flash", "kordon-install provision", "kordon-install show"}},
		{[]string{"kordon-install", "show", "-h"}, []string{"usage: kordon-install show TARGET", "devices"}},
		{[]string{"kordon-update", "-h"}, []string{"agent", "keygen", "release", "verify"}},
		{[]string{"kordon-update", "release", "-h"}, []string{"built as version X", "-root"}},
	} {
		r := runBin(t, "", c.args[0], c.args[1:]...)
		if r.code != 0 {
			t.Errorf("%q: exit %d, stderr %q", c.args, r.code, r.stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%q: help lacks %q:\n%s", c.args, w, r.stdout)
			}
		}
	}
}

func TestHubdPasswd(t *testing.T) {
	if r := runBin(t, "", "hubd", "passwd", "-h"); r.code != 0 || strings.Contains(r.stdout, "$2") {
		t.Errorf("passwd -h printed a hash or failed: %d %q", r.code, r.stdout)
	}
	r := runBin(t, "s3cret pass\n", "hubd", "passwd")
	if r.code != 0 || bcrypt.CompareHashAndPassword([]byte(strings.TrimSpace(r.stdout)), []byte("s3cret pass")) != nil {
		t.Errorf("hash of stdin secret: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	r = runBin(t, "", "hubd", "passwd", "s3cret")
	if r.code != 2 || strings.Contains(r.stdout, "$2") || !strings.Contains(r.stderr, "not the command line") {
		t.Errorf("secret on the command line: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	if r := runBin(t, "", "hubd", "passwd"); r.code != 1 || !strings.Contains(r.stderr, "no secret") {
		t.Errorf("empty stdin: exit %d, %q", r.code, r.stderr)
	}
}

func write(t *testing.T, name, s string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// -check lists every mistake of a config in one run and exits 2; a good
// config says ok and exits 0.
func TestCheckListsEveryMistake(t *testing.T) {
	hub := write(t, "hub.yaml", "crossing: kz-demo\nmqtt: \":1883\"\ndata_dri: /tmp/h\nboxes:\n  - {box: booth/1, password_hash: plain}\nusers:\n  - {user: a, role: supervisr, password_hash: x}\nlimits: {max_inflight: 70000}\n")
	r := runBin(t, "", "hubd", "-check", "-config", hub)
	for _, w := range []string{
		hub + ":3: data_dri: unknown field (did you mean data_dir?)",
		hub + ":5: boxes[0].box: \"booth/1\" is not a valid id",
		hub + ":5: boxes[0].password_hash: is not a bcrypt hash",
		hub + ":7: users[0].role: \"supervisr\" is not one of officer, supervisor, technician (did you mean supervisor?)",
		hub + ":7: users[0].password_hash: is not a bcrypt hash",
		hub + ":8: limits.max_inflight: 70000 is out of range (0 to 65535)",
		"hubd: 6 mistakes in the configuration; hubd does not start",
	} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("hubd -check lacks %q:\n%s", w, r.stderr)
		}
	}
	if r.code != 2 {
		t.Errorf("hubd -check on a bad config: exit %d", r.code)
	}
	// hubd without -check refuses to start on the same file, the same way.
	if r2 := runBin(t, "", "hubd", "-config", hub); r2.code != 2 || r2.stderr != r.stderr {
		t.Errorf("hubd started or said something else: exit %d\n%s", r2.code, r2.stderr)
	}
	h, _ := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	good := write(t, "hub.yaml", fmt.Sprintf("crossing: kz-demo\nmqtt: \":1883\"\ndata_dir: /tmp/h\nboxes: [{box: booth-01, password_hash: %q}]\n", h))
	if r := runBin(t, "", "hubd", "-check", "-config", good); r.code != 0 || !strings.Contains(r.stdout, "ok (1 boxes") {
		t.Errorf("good hub config: exit %d %q %q", r.code, r.stdout, r.stderr)
	}

	box := write(t, "edged.yaml", "crossing: kz-demo\nbox: booth-01\nstate_dir: /tmp/s\nhub:\n  address: http://hub:1883\n  keepalive: 20\ndevices:\n  - id: r1\n    driver: mrzz\n    transport: {type: serial, path: /dev/x}\n")
	r = runBin(t, "", "edged", "-check", "-config", box)
	for _, w := range []string{
		box + ":5: hub.address: \"http://hub:1883\": scheme http is not allowed here",
		box + ":6: hub.keepalive: 20 is not a duration (write 20s)",
		box + ":9: devices[0].driver: unknown driver \"mrzz\" (did you mean mrz?)",
		"edged: 3 mistakes in the configuration; edged does not start",
	} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("edged -check lacks %q:\n%s", w, r.stderr)
		}
	}
	if r.code != 2 {
		t.Errorf("edged -check on a bad config: exit %d", r.code)
	}
	if r := runBin(t, "", "edged", "-check", "-config", write(t, "e.yaml", "")); r.code != 2 || !strings.Contains(r.stderr, "e.yaml:1: empty file") {
		t.Errorf("empty edged config: exit %d %q", r.code, r.stderr)
	}
}

func TestKordonCertsSaysWhatItWrote(t *testing.T) {
	dir := t.TempDir()
	r := runBin(t, "", "kordon-certs", "ca", "-crossing", "kz-demo", "-dir", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "wrote "+filepath.Join(dir, "ca")+".pem") || !strings.Contains(r.stdout, "ca.key") {
		t.Fatalf("ca: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = runBin(t, "", "kordon-certs", "box", "-box", "booth-01", "-dir", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "booth-01.pem") {
		t.Fatalf("box: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := runBin(t, "", "kordon-certs", "box", "-box", "booth-01", "-dir", dir); r.code != 1 || !strings.Contains(r.stderr, "refusing to overwrite") {
		t.Errorf("second box: exit %d %q", r.code, r.stderr)
	}
	// A flag of another command is not accepted: each has its own set.
	if r := runBin(t, "", "kordon-certs", "ca", "-box", "x", "-dir", dir); r.code != 2 {
		t.Errorf("ca -box: exit %d %q", r.code, r.stderr)
	}
	if r := runBin(t, "", "kordon-certs", "box", "-box", "bad/id", "-dir", dir); r.code != 1 || !strings.Contains(r.stderr, "no / + #") {
		t.Errorf("box id with slash: exit %d %q", r.code, r.stderr)
	}
}

func TestHwtestDecodeGarbage(t *testing.T) {
	r := runBin(t, "\x00\x01 not device output\n", "hwtest", "decode", "-driver", "mrz")
	if r.code == 0 || !strings.Contains(r.stderr, "no reading decoded") || strings.Contains(r.stderr, "map[") {
		t.Errorf("exit %d\nstdout %q\nstderr %q", r.code, r.stdout, r.stderr)
	}
}
