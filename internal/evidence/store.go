package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kordon/kordon/internal/contract"
)

// ErrMismatch: the assembled file does not have the SHA-256 the reading
// gave; the partial file is discarded and a fetch starts again from zero.
var ErrMismatch = errors.New("assembled file does not match the reading's SHA-256")

// Store keeps verified evidence files content-addressed: dir/<sha256>. A
// file being fetched grows in dir/partial/<sha256>.part, only ever by
// verified chunks in order, so a fetch cut off resumes where it stopped.
type Store struct{ dir string }

// OpenStore makes the store's folders.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "partial"), 0o700); err != nil {
		return nil, err
	}
	return &Store{dir: dir}, nil
}

// Path is where a stored file lives; sum must be ValidSHA256.
func (s *Store) Path(sum string) string { return filepath.Join(s.dir, sum) }

// Has says whether the file with this hash is stored.
func (s *Store) Has(sum string) bool {
	if !ValidSHA256(sum) {
		return false
	}
	fi, err := os.Stat(s.Path(sum))
	return err == nil && fi.Mode().IsRegular()
}

// Partial is one file being assembled.
type Partial struct {
	store *Store
	sum   string
	f     *os.File
	n     int64
}

// Begin opens (or resumes) the assembly of the file with this hash.
func (s *Store) Begin(sum string) (*Partial, error) {
	if !ValidSHA256(sum) {
		return nil, errors.New("bad sha256")
	}
	f, err := os.OpenFile(filepath.Join(s.dir, "partial", sum+".part"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	n, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Partial{store: s, sum: sum, f: f, n: n}, nil
}

// Len is how many verified bytes the partial file holds.
func (p *Partial) Len() int64 { return p.n }

// Write appends a verified chunk (DecodeChunk) that starts where the
// partial file ends, and syncs it, so a resume never trusts unwritten bytes.
func (p *Partial) Write(c contract.EvidenceChunk) error {
	if c.SHA256 != p.sum {
		return fmt.Errorf("chunk of %s in the file of %s", c.SHA256, p.sum)
	}
	if c.Offset != p.n {
		return fmt.Errorf("chunk at %d, partial file ends at %d", c.Offset, p.n)
	}
	if _, err := p.f.WriteAt(c.Data, c.Offset); err != nil {
		return err
	}
	if err := p.f.Sync(); err != nil {
		return err
	}
	p.n += int64(len(c.Data))
	return nil
}

// Finish verifies the whole file against its SHA-256 and moves it into the
// store. On a mismatch the partial file is removed (ErrMismatch).
func (p *Partial) Finish() (string, error) {
	if _, err := p.f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, p.f); err != nil {
		return "", err
	}
	if hex.EncodeToString(h.Sum(nil)) != p.sum {
		p.Discard()
		return "", ErrMismatch
	}
	p.f.Close()
	dst := p.store.Path(p.sum)
	if err := os.Rename(p.f.Name(), dst); err != nil {
		return "", err
	}
	if d, err := os.Open(p.store.dir); err == nil {
		d.Sync() // the rename is durable once the folder is
		d.Close()
	}
	return dst, nil
}

// Close leaves the partial file for a later resume.
func (p *Partial) Close() { p.f.Close() }

// Discard removes the partial file (the box said the file changed, or the
// whole did not verify): the next fetch starts from zero.
func (p *Partial) Discard() {
	p.f.Close()
	os.Remove(p.f.Name())
}
