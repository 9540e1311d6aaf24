package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// idPattern is what a crossing, box or device id may be: it becomes one
// level of an MQTT topic (docs/mqtt.md), so no / + # or spaces, and lower
// case so two spellings cannot name one box.
var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// namePattern is what a log-in name may be (observers, dashboard users):
// it is matched against MQTT client ids and user names, so again no / + #.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// IsID says whether s is a valid crossing, box or device id.
func IsID(s string) bool { return idPattern.MatchString(s) }

// ID checks that a required id is written and valid.
func (d *Doc) ID(field, value string) bool {
	switch {
	case value == "":
		d.Errorf(field, "missing")
	case !idPattern.MatchString(value):
		d.Errorf(field, "%q is not a valid id: use lower-case letters, digits, - or _ (no spaces, /, + or #), at most 63 characters", value)
	default:
		return true
	}
	return false
}

// Name checks that a required log-in name is written and valid.
func (d *Doc) Name(field, value string) bool {
	switch {
	case value == "":
		d.Errorf(field, "missing")
	case !namePattern.MatchString(value):
		d.Errorf(field, "%q is not a valid name: use letters, digits, . _ @ or - (no spaces, /, + or #), at most 64 characters", value)
	default:
		return true
	}
	return false
}

// Required checks that a text field is written; hint says what to write.
func (d *Doc) Required(field, value, hint string) bool {
	if strings.TrimSpace(value) != "" {
		return true
	}
	if hint != "" {
		d.Errorf(field, "missing: %s", hint)
	} else {
		d.Errorf(field, "missing")
	}
	return false
}

// OneOf checks value against a set of known values (when written).
func (d *Doc) OneOf(field, value string, known ...string) bool {
	if value == "" || slices.Contains(known, value) {
		return true
	}
	d.Errorf(field, "%q is not one of %s%s", value, strings.Join(known, ", "), didYouMean(value, known))
	return false
}

func didYouMean(got string, known []string) string {
	if best := closest(got, known); best != "" {
		return " (did you mean " + best + "?)"
	}
	return ""
}

// Range checks min <= v <= max for a number that is written.
func (d *Doc) Range(field string, v, lo, hi int64) bool {
	if !d.Has(field) || (v >= lo && v <= hi) {
		return true
	}
	d.Errorf(field, "%d is out of range (%d to %d)", v, lo, hi)
	return false
}

// DurationRange checks lo <= v <= hi for a duration that is written.
func (d *Doc) DurationRange(field string, v, lo, hi time.Duration) bool {
	if !d.Has(field) || (v >= lo && v <= hi) {
		return true
	}
	d.Errorf(field, "%v is out of range (%v to %v)", v, lo, hi)
	return false
}

// ListenAddr checks a listen address such as ":8080" or "127.0.0.1:1883"
// (when written).
func (d *Doc) ListenAddr(field, addr string) bool {
	if addr == "" {
		return true
	}
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		var n int
		n, err = strconv.Atoi(port)
		if err == nil && (n < 0 || n > 65535) {
			err = fmt.Errorf("port out of range")
		}
	}
	if err != nil {
		d.Errorf(field, "%q is not a listen address (write HOST:PORT or :PORT, e.g. :8080)", addr)
		return false
	}
	return true
}

// URL checks that a required URL is written with one of schemes and a
// host:port; example is shown in the message.
func (d *Doc) URL(field, s string, schemes []string, example string) *url.URL {
	if s == "" {
		d.Errorf(field, "missing (e.g. %s)", example)
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || !strings.Contains(s, "://") {
		d.Errorf(field, "%q is not a URL with a scheme (write e.g. %s)", s, example)
		return nil
	}
	if !slices.Contains(schemes, u.Scheme) {
		d.Errorf(field, "%q: scheme %s is not allowed here (use %s, e.g. %s)", s, u.Scheme, strings.Join(schemes, ", "), example)
		return nil
	}
	if u.Port() == "" {
		d.Errorf(field, "%q has no port (write e.g. %s)", s, example)
		return nil
	}
	if p, err := strconv.Atoi(u.Port()); err != nil || p < 1 || p > 65535 {
		d.Errorf(field, "%q: port %s is not a port number", s, u.Port())
		return nil
	}
	return u
}

// Readable checks that a file named in field (when written) exists and can be
// read.
func (d *Doc) Readable(field, path string) bool {
	if path == "" {
		return true
	}
	f, err := os.Open(path)
	if err != nil {
		d.Errorf(field, "%s: %s", path, readError(err))
		return false
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		d.Errorf(field, "%s is a folder, not a file", path)
		return false
	}
	return true
}
