// Package watchlist is the hub's list of wanted documents: document number
// and issuing state, held in memory only as keyed hashes
// (HMAC-SHA256 with a key from the hub's key file), so a memory dump or a
// copied watchlist file does not reveal who is on it without the key, and
// the hashes cannot be tested against guessed numbers without it either.
//
// The file may be plain CSV (number,state) or, better, already hashed with
// `hubd watchlist hash`, so plaintext never has to be on the hub. It is
// reloaded while the hub runs: List.Watch polls the file's identity (inode,
// size, modification time) every few seconds. Polling rather than inotify
// because fsnotify is not a dependency, a watch would have to be on the
// directory anyway to see the atomic rename that config tools do, and a
// stat every few seconds costs nothing; SIGHUP would need an operator step
// that is easy to forget. A file that fails to load keeps the previous list.
//
// Nothing here logs or returns a document number: errors name line numbers.
package watchlist

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// Config is the hub config's watchlist section.
type Config struct {
	File    string        `yaml:"file"`     // watchlist, hashed or plain CSV
	KeyFile string        `yaml:"key_file"` // hex key (`hubd watchlist key` makes one); keep it 0600
	Poll    time.Duration `yaml:"poll"`     // how often the file is checked for changes (default 5s)
}

// Header is the first line of a hashed watchlist file.
const Header = "# kordon-watchlist/1 hmac-sha256"

// MinKeyLen is the shortest key accepted, in bytes.
const MinKeyLen = 16

// Digest is the keyed hash of one entry.
type Digest [sha256.Size]byte

// Normalize puts a document number and an issuing state in the form the
// MRZ decoder reports them: upper case; spaces, dashes and trailing '<'
// fillers removed from the number; fillers removed from the state. Germany
// is "D" in an MRZ (written "D<<"), so "DEU" is taken as "D".
func Normalize(number, state string) (string, string) {
	number = strings.ToUpper(strings.NewReplacer(" ", "", "-", "", "\t", "").Replace(number))
	number = strings.TrimRight(number, "<")
	state = strings.ToUpper(strings.Trim(state, " \t<"))
	if state == "DEU" {
		state = "D"
	}
	return number, state
}

// Hash is the keyed digest of a normalised entry.
func Hash(key []byte, number, state string) Digest {
	number, state = Normalize(number, state)
	m := hmac.New(sha256.New, key)
	m.Write([]byte("kordon-watchlist/1\x00"))
	m.Write([]byte(state))
	m.Write([]byte{0})
	m.Write([]byte(number))
	var d Digest
	copy(d[:], m.Sum(nil))
	return d
}

// KeyID names a key without revealing it, so a hashed file made with
// another key is refused instead of silently matching nothing.
func KeyID(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("kordon-watchlist key id"))
	return hex.EncodeToString(m.Sum(nil)[:6])
}

// LoadKey reads a key file: the key in hex, surrounding space ignored.
func LoadKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("watchlist key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("watchlist key %s: not hex", path)
	}
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("watchlist key %s: %d bytes, want at least %d", path, len(key), MinKeyLen)
	}
	return key, nil
}

// Parse reads a watchlist, hashed or plain, into a set of digests. plain
// says whether the file was plaintext (worth a warning: it should not stay
// on the hub).
func Parse(key []byte, r io.Reader) (set map[Digest]struct{}, plain bool, err error) {
	br := bufio.NewReader(r)
	first, err := br.Peek(len(Header))
	if err == nil && string(first) == Header {
		set, err = parseHashed(key, br)
		return set, false, err
	}
	set, err = parsePlain(key, br)
	return set, true, err
}

func parseHashed(key []byte, r io.Reader) (map[Digest]struct{}, error) {
	set := map[Digest]struct{}{}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if line == 1 {
			id, ok := strings.CutPrefix(strings.TrimPrefix(s, Header), " key=")
			if !ok || id != KeyID(key) {
				return nil, errors.New("watchlist: hashed with another key (key id differs); hash it again with this hub's key")
			}
			continue
		}
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		var d Digest
		if b, err := hex.DecodeString(s); err != nil || len(b) != len(d) {
			return nil, fmt.Errorf("watchlist: line %d: not a %d-byte hex digest", line, len(d))
		} else {
			copy(d[:], b)
		}
		set[d] = struct{}{}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("watchlist: line %d: %w", line+1, err)
	}
	return set, nil
}

// parsePlain reads CSV rows of document number and issuing state. A first
// row whose number is not a document number (a header) and # comments are
// skipped.
func parsePlain(key []byte, r io.Reader) (map[Digest]struct{}, error) {
	set := map[Digest]struct{}{}
	err := eachPlain(r, func(number, state string) { set[Hash(key, number, state)] = struct{}{} })
	return set, err
}

func eachPlain(r io.Reader, f func(number, state string)) error {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	for i := 0; ; i++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			// csv errors quote no field content, but keep only the position.
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return fmt.Errorf("watchlist: line %d: %v", pe.Line, pe.Err)
			}
			return fmt.Errorf("watchlist: %w", err)
		}
		line, _ := cr.FieldPos(0) // only valid after a record was read
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) != 2 {
			return fmt.Errorf("watchlist: line %d: want 2 fields (document number, issuing state), have %d", line, len(rec))
		}
		number, state := Normalize(rec[0], rec[1])
		if i == 0 && !plausible(number, state) {
			continue // a header row
		}
		if !plausible(number, state) {
			return fmt.Errorf("watchlist: line %d: not a document number (A-Z, 0-9, '<') and a 1-3 letter state", line)
		}
		f(number, state)
	}
}

func plausible(number, state string) bool {
	if number == "" || len(number) > 30 || state == "" || len(state) > 3 {
		return false
	}
	for _, c := range number {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '<') {
			return false
		}
	}
	for _, c := range state {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// HashFile converts a plain CSV watchlist to the hashed form.
func HashFile(key []byte, plain io.Reader, out io.Writer) (int, error) {
	seen := map[Digest]bool{}
	var ds []Digest
	if err := eachPlain(plain, func(number, state string) {
		d := Hash(key, number, state)
		if !seen[d] {
			seen[d] = true
			ds = append(ds, d)
		}
	}); err != nil {
		return 0, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s key=%s\n", Header, KeyID(key))
	for _, d := range ds {
		b.WriteString(hex.EncodeToString(d[:]))
		b.WriteByte('\n')
	}
	_, err := out.Write(b.Bytes())
	return len(ds), err
}

// List is a loaded watchlist that follows its file.
type List struct {
	path string
	key  []byte
	log  *slog.Logger
	poll time.Duration
	// Reloaded, if set before Watch, is told the outcome of every reload
	// after the first load (n entries now held, or why the file was
	// refused): tests and metrics wait on it instead of sleeping.
	Reloaded func(n int, err error)

	mu      sync.RWMutex
	set     map[Digest]struct{}
	stat    os.FileInfo
	lastErr string // the last reload error logged, so a lasting fault logs once
}

// Open loads a watchlist. A configured watchlist that cannot be loaded at
// start is an error: the hub must not run believing it checks documents.
func Open(c Config, log *slog.Logger) (*List, error) {
	if c.File == "" || c.KeyFile == "" {
		return nil, errors.New("watchlist: file and key_file are both required")
	}
	key, err := LoadKey(c.KeyFile)
	if err != nil {
		return nil, err
	}
	l := &List{path: c.File, key: key, log: log, poll: c.Poll}
	if l.poll <= 0 {
		l.poll = 5 * time.Second
	}
	if _, err := l.Check(); err != nil {
		return nil, err
	}
	return l, nil
}

// Match says whether a document is on the list.
func (l *List) Match(number, state string) bool {
	if number == "" {
		return false
	}
	d := Hash(l.key, number, state)
	l.mu.RLock()
	_, hit := l.set[d]
	l.mu.RUnlock()
	return hit
}

// Len is the number of entries held.
func (l *List) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.set)
}

// Check reloads the file if it changed since the last load (another inode,
// size or modification time). On error the previous list stays.
func (l *List) Check() (changed bool, err error) {
	fi, err := os.Stat(l.path)
	if err != nil {
		return false, fmt.Errorf("watchlist: %w", err)
	}
	l.mu.RLock()
	same := l.stat != nil && os.SameFile(l.stat, fi) && l.stat.Size() == fi.Size() && l.stat.ModTime().Equal(fi.ModTime())
	l.mu.RUnlock()
	if same {
		return false, nil
	}
	f, err := os.Open(l.path)
	if err != nil {
		return false, fmt.Errorf("watchlist: %w", err)
	}
	defer f.Close()
	// Stat the opened file: the one read, even if renamed over meanwhile.
	if fi, err = f.Stat(); err != nil {
		return false, fmt.Errorf("watchlist: %w", err)
	}
	set, plain, err := Parse(l.key, f)
	if err != nil {
		return false, err
	}
	l.mu.Lock()
	l.set, l.stat = set, fi
	l.mu.Unlock()
	if plain && l.log != nil {
		l.log.Warn("watchlist file is plaintext; convert it with `hubd watchlist hash` and remove the plain file", "file", l.path)
	}
	if l.log != nil {
		l.log.Info("watchlist loaded", "entries", len(set), "file", l.path)
	}
	return true, nil
}

// Watch checks the file every poll interval until ctx ends.
func (l *List) Watch(ctx context.Context) {
	t := time.NewTicker(l.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := l.Check()
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if msg != l.lastErr && err != nil && l.log != nil {
			l.log.Warn("watchlist reload failed; keeping the previous list", "err", err, "entries", l.Len())
		}
		l.lastErr = msg
		if (changed || err != nil) && l.Reloaded != nil {
			l.Reloaded(l.Len(), err)
		}
	}
}
