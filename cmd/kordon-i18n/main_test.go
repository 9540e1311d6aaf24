package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestReportsEachLanguage: the repository's translations pass -strict and
// every language is listed; -h is help (exit 0); an unknown language or a
// stray argument is a usage error (exit 2).
func TestReportsEachLanguage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-root", "../..", "-strict"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	for _, l := range []string{"en:", "ru:", "kk:"} {
		if !strings.Contains(out.String(), l) {
			t.Errorf("no %s line in\n%s", l, out.String())
		}
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-h"}, 0, "usage: kordon-i18n"},
		{[]string{"-root", "../..", "-lang", "xx"}, 2, `no language "xx"`},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
		{[]string{"-root", "/nonexistent"}, 2, "no screens there"},
	} {
		out.Reset()
		errb.Reset()
		if code := run(c.args, &out, &errb); code != c.code || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errb.String(), c.code, c.want)
		}
	}
}
