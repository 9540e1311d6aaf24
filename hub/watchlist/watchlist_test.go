package watchlist

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/internal/logging"
)

var key = bytes.Repeat([]byte{0x5a}, 32)

func writeKey(t *testing.T, dir string, k []byte) string {
	t.Helper()
	p := filepath.Join(dir, "watchlist.key")
	if err := os.WriteFile(p, []byte(strings.ToUpper(string(hexOf(k)))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func hexOf(b []byte) []byte {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return out
}

// replace writes a file the way config tools do: a new file renamed over
// the old one.
func replace(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestNormalize(t *testing.T) {
	for _, tc := range [][4]string{
		{"l898902c3", " uto ", "L898902C3", "UTO"},
		{"L898902C3<<", "UTO", "L898902C3", "UTO"},
		{"C01X 00T4-7", "D<<", "C01X00T47", "D"},
		{"C01X00T47", "DEU", "C01X00T47", "D"},
	} {
		n, s := Normalize(tc[0], tc[1])
		if n != tc[2] || s != tc[3] {
			t.Errorf("Normalize(%q, %q) = %q, %q", tc[0], tc[1], n, s)
		}
	}
	if Hash(key, "L898902C3", "UTO") != Hash(key, "l898902c3<", "UTO<") {
		t.Error("normalised forms hash differently")
	}
	if Hash(key, "L898902C3", "UTO") == Hash(bytes.Repeat([]byte{1}, 32), "L898902C3", "UTO") {
		t.Error("the key does not change the digest")
	}
	// State and number are kept apart: "AB"+"C1" is not "A"+"BC1".
	if Hash(key, "C1", "AB") == Hash(key, "BC1", "A") {
		t.Error("entries run into each other")
	}
}

const plainCSV = `document_number,issuing_state
# wanted since 2026-10
L898902C3,UTO
C01X00T47,D<<

"D23145890", UTO
`

func TestHashFileRoundTrip(t *testing.T) {
	var hashed bytes.Buffer
	n, err := HashFile(key, strings.NewReader(plainCSV), &hashed)
	if err != nil || n != 3 {
		t.Fatalf("HashFile: %d, %v", n, err)
	}
	if bytes.Contains(hashed.Bytes(), []byte("L898902C3")) || bytes.Contains(hashed.Bytes(), []byte("UTO")) {
		t.Fatal("plaintext in the hashed file")
	}
	fromHashed, plain, err := Parse(key, &hashed)
	if err != nil || plain {
		t.Fatalf("Parse hashed: plain=%v, %v", plain, err)
	}
	fromPlain, plain, err := Parse(key, strings.NewReader(plainCSV))
	if err != nil || !plain {
		t.Fatalf("Parse plain: plain=%v, %v", plain, err)
	}
	if len(fromHashed) != 3 || len(fromPlain) != 3 {
		t.Fatalf("%d hashed, %d plain entries", len(fromHashed), len(fromPlain))
	}
	for d := range fromPlain {
		if _, ok := fromHashed[d]; !ok {
			t.Error("hashed and plain forms differ")
		}
	}
	if _, ok := fromHashed[Hash(key, "C01X00T47", "D")]; !ok {
		t.Error("D<< entry not found as D")
	}
}

func TestRefusals(t *testing.T) {
	var hashed bytes.Buffer
	HashFile(key, strings.NewReader(plainCSV), &hashed)
	if _, _, err := Parse(bytes.Repeat([]byte{1}, 32), bytes.NewReader(hashed.Bytes())); err == nil ||
		!strings.Contains(err.Error(), "another key") {
		t.Errorf("file hashed with another key: %v", err)
	}
	for _, tc := range []struct{ src, want string }{
		{"L898902C3,UTO\nX12345678\n", "line 2"},
		{"L898902C3,UTO\nSECRET-NAME?,UTO\n", "line 2"},
		{"L898902C3,UTO\nL898902C3,UTOPIA\n", "line 2"},
		{"L898902C3,UTO\n\"L898902C3,UTO\n", "line 2"},
		{Header + " key=" + KeyID(key) + "\nzz\n", "line 2"},
	} {
		_, _, err := Parse(key, strings.NewReader(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error naming %s", tc.src, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "L898902C3") || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("error quotes the file: %v", err)
		}
	}
}

func TestReloadKeepsLastGoodList(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "watchlist.txt")
	var hashed bytes.Buffer
	HashFile(key, strings.NewReader("L898902C3,UTO\n"), &hashed)
	replace(t, file, hashed.String())
	var logs bytes.Buffer
	l, err := Open(Config{File: file, KeyFile: writeKey(t, dir, key)}, logging.New(&logs, -4))
	if err != nil {
		t.Fatal(err)
	}
	if !l.Match("L898902C3", "UTO") || l.Match("D23145890", "UTO") || l.Match("L898902C3", "D") || l.Match("", "UTO") {
		t.Fatal("wrong matches after the first load")
	}
	if changed, err := l.Check(); changed || err != nil {
		t.Fatalf("unchanged file reloaded: %v %v", changed, err)
	}
	hashed.Reset()
	HashFile(key, strings.NewReader("L898902C3,UTO\nD23145890,UTO\n"), &hashed)
	replace(t, file, hashed.String())
	if changed, err := l.Check(); !changed || err != nil || !l.Match("D23145890", "UTO") || l.Len() != 2 {
		t.Fatalf("reload: changed=%v err=%v len=%d", changed, err, l.Len())
	}
	replace(t, file, "L898902C3,UTO\nbroken line\n")
	if _, err := l.Check(); err == nil {
		t.Fatal("broken file accepted")
	}
	if !l.Match("D23145890", "UTO") || l.Len() != 2 {
		t.Error("a broken file replaced the last good list")
	}
	if bytes.Contains(logs.Bytes(), []byte("L898902C3")) || bytes.Contains(logs.Bytes(), []byte("D23145890")) {
		t.Errorf("a document number reached the log:\n%s", logs.String())
	}
}

// TestWatchPicksUpChanges runs the polling loop and waits on its Reloaded
// hook (no sleeps): a new file is picked up, a broken one reported.
func TestWatchPicksUpChanges(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "watchlist.csv")
	replace(t, file, "L898902C3,UTO\n")
	l, err := Open(Config{File: file, KeyFile: writeKey(t, dir, key), Poll: 20 * time.Millisecond}, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		n   int
		err error
	}
	events := make(chan outcome, 16)
	l.Reloaded = func(n int, err error) { events <- outcome{n, err} }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Watch(ctx)
	wait := func() outcome {
		select {
		case o := <-events:
			return o
		case <-time.After(10 * time.Second):
			t.Fatal("no reload within 10s")
			return outcome{}
		}
	}
	replace(t, file, "L898902C3,UTO\nD23145890,UTO\n")
	if o := wait(); o.err != nil || o.n != 2 || !l.Match("D23145890", "UTO") {
		t.Fatalf("reload: %+v", o)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if o := wait(); o.err == nil || o.n != 2 {
		t.Fatalf("missing file: %+v", o)
	}
}

func TestOpenRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "w.csv")
	replace(t, file, "L898902C3,UTO\n")
	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, []byte("abcd\n"), 0o600)
	for _, c := range []Config{
		{File: file},
		{File: file, KeyFile: short},
		{File: filepath.Join(dir, "missing.csv"), KeyFile: writeKey(t, dir, key)},
	} {
		if _, err := Open(c, nil); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func TestCommand(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if rc := Command([]string{"key"}, nil, &out, &errb); rc != 0 {
		t.Fatalf("key: %d %s", rc, errb.String())
	}
	keyFile := filepath.Join(dir, "k")
	os.WriteFile(keyFile, out.Bytes(), 0o600)
	k, err := LoadKey(keyFile)
	if err != nil || len(k) != 32 {
		t.Fatalf("generated key: %d bytes, %v", len(k), err)
	}
	out.Reset()
	if rc := Command([]string{"hash", "-key", keyFile}, strings.NewReader(plainCSV), &out, &errb); rc != 0 {
		t.Fatalf("hash: %d %s", rc, errb.String())
	}
	hashedFile := filepath.Join(dir, "w.txt")
	os.WriteFile(hashedFile, out.Bytes(), 0o600)
	out.Reset()
	if rc := Command([]string{"check", "-key", keyFile, hashedFile}, nil, &out, &errb); rc != 0 || !strings.HasPrefix(out.String(), "3 entries, hashed") {
		t.Fatalf("check: %d %q %s", rc, out.String(), errb.String())
	}
	if rc := Command([]string{"hash"}, nil, &out, &errb); rc != 2 {
		t.Errorf("hash without key: %d", rc)
	}
	errb.Reset()
	if rc := Command([]string{"hash", "-key", keyFile}, strings.NewReader("L898902C3,UTO,EXTRA\n"), &out, &errb); rc != 1 ||
		strings.Contains(errb.String(), "L898902C3") {
		t.Errorf("bad CSV: %d %q", rc, errb.String())
	}
}
