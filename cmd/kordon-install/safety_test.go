package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fileSum(t *testing.T, path string) [32]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// A devices file edged would refuse is refused before anything is written,
// with the same file:line:field messages.
func TestProvisionRefusesDevicesEdgedWouldRefuse(t *testing.T) {
	needE2fs(t)
	img := testImage(t)
	target := filepath.Join(t.TempDir(), "box.img")
	if err := flash(context.Background(), img, target, opts(t)); err != nil {
		t.Fatal(err)
	}
	before := fileSum(t, target)
	bad := filepath.Join(t.TempDir(), "devices.yaml")
	os.WriteFile(bad, []byte("devices:\n  - id: reader1\n    driver: mrz\n    transprt: {type: serial, path: /dev/ttyUSB0}\n  - id: t1\n    driver: thermo\n    transport: {type: serial, path: /dev/ttyUSB1}\n"), 0o600)
	for _, cmd := range []string{"provision", "flash"} {
		o := opts(t)
		o.DevicesFile = bad
		var err error
		if cmd == "provision" {
			err = cmdProvisionTarget(context.Background(), target, o)
		} else {
			err = flash(context.Background(), img, target, o)
		}
		if err == nil {
			t.Fatalf("%s accepted a devices file with mistakes", cmd)
		}
		for _, w := range []string{
			bad + ":4: devices[0].transprt: unknown field (did you mean transport?)",
			bad + ":6: devices[1].driver: unknown driver \"thermo\"",
			"nothing was written",
		} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: missing %q in:\n%v", cmd, w, err)
			}
		}
		if fileSum(t, target) != before {
			t.Fatalf("%s: the target changed although the devices file was refused", cmd)
		}
	}
}

// A card provisioned as one box is not silently made another.
func TestRefusesToReplaceAnotherBoxWithoutForce(t *testing.T) {
	needE2fs(t)
	img := testImage(t)
	target := filepath.Join(t.TempDir(), "box.img")
	if err := flash(context.Background(), img, target, opts(t)); err != nil {
		t.Fatal(err)
	}
	before := fileSum(t, target)
	for _, cmd := range []string{"provision", "flash"} {
		o := opts(t)
		o.Box = "booth-02"
		var err error
		if cmd == "provision" {
			err = cmdProvisionTarget(context.Background(), target, o)
		} else {
			err = flash(context.Background(), img, target, o)
		}
		if err == nil || !strings.Contains(err.Error(), "provisioned as box booth-01 of crossing kz-demo") || !strings.Contains(err.Error(), "--force") {
			t.Fatalf("%s as another box: %v", cmd, err)
		}
		if fileSum(t, target) != before {
			t.Fatalf("%s: refused, yet the target changed", cmd)
		}
	}
	// The same box again needs no --force; another box with it is done and said.
	if err := cmdProvisionTarget(context.Background(), target, opts(t)); err != nil {
		t.Fatalf("re-provisioning as the same box: %v", err)
	}
	o := opts(t)
	o.Box, o.force = "booth-02", true
	var log bytes.Buffer
	o.out = &log
	if err := flash(context.Background(), img, target, o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "was box kz-demo/booth-01; it becomes kz-demo/booth-02") {
		t.Errorf("--force did not say what it replaced:\n%s", log.String())
	}
}

// An image file target is never shrunk unless asked, and the size chosen is said.
func TestFlashNeverShrinksTargetSilently(t *testing.T) {
	needE2fs(t)
	img := testImage(t)
	fi, _ := os.Stat(img)
	target := filepath.Join(t.TempDir(), "card.img")
	big := fi.Size() + 96<<20
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Truncate(target, big)
	var log bytes.Buffer
	o := opts(t)
	o.out = &log
	if err := flash(context.Background(), img, target, o); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(target); st.Size() != big {
		t.Fatalf("target is %d bytes after flashing, was %d", st.Size(), big)
	}
	if !strings.Contains(log.String(), "keeps its "+human(big)) {
		t.Errorf("size decision not said:\n%s", log.String())
	}
	o = opts(t)
	o.size = fi.Size()
	err := flash(context.Background(), img, target, o)
	if err == nil || !strings.Contains(err.Error(), "would shrink") {
		t.Fatalf("--size smaller than the file: %v", err)
	}
	if st, _ := os.Stat(target); st.Size() != big {
		t.Fatalf("refused, yet the target is now %d bytes", st.Size())
	}
}

func TestShowPrintsIdentityAndDevices(t *testing.T) {
	needE2fs(t)
	img := testImage(t)
	target := filepath.Join(t.TempDir(), "box.img")
	if err := flash(context.Background(), img, target, opts(t)); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"show", target}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("show: exit %d: %s", code, errOut.String())
	}
	for _, w := range []string{`"box": "booth-01"`, `"password": "********"`, "devices: 1", "reader1", "mrz", "path=/dev/ttyUSB0"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("show output lacks %q:\n%s", w, out.String())
		}
	}
	if strings.Contains(out.String(), "ss word") {
		t.Errorf("show printed the hub password:\n%s", out.String())
	}
}

func TestInstallerHelpAndExitCodes(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		out  string // on stdout
		err  string // on stderr
	}{
		{[]string{"-h"}, 0, "kordon-install show TARGET", ""},
		{[]string{"--help"}, 0, "usage:", ""},
		{[]string{"show", "-h"}, 0, "usage: kordon-install show TARGET", ""},
		{[]string{"flash", "--help"}, 0, "-size", ""},
		{[]string{"provision", "-h"}, 0, "-force", ""},
		{[]string{"-version"}, 0, "kordon-install ", ""},
		{[]string{"flash", "--bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{[]string{"show"}, 2, "", "want TARGET"},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{nil, 2, "", "usage:"},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), c.args, strings.NewReader(""), &out, &errOut)
		if code != c.code || !strings.Contains(out.String(), c.out) || !strings.Contains(errOut.String(), c.err) {
			t.Errorf("%q: exit %d (want %d)\nstdout: %s\nstderr: %s", c.args, code, c.code, out.String(), errOut.String())
		}
	}
}
