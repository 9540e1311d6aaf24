package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// A release is published as a directory (or URL prefix) holding
// manifest.json and the files it names. manifest.json is a SignedManifest:
// the signature covers the exact payload bytes, so nothing is re-encoded
// between signing and verifying.

// signContext is prepended to the payload before signing, so a signature made
// for anything else with the same key can never pass as a release.
const signContext = "kordon-release-v1\n"

// SignedManifest is the wire form of manifest.json.
type SignedManifest struct {
	Payload   string `json:"payload"`   // base64 of the Manifest JSON
	Signature string `json:"signature"` // base64 ed25519 signature over signContext+payload bytes
	KeyID     string `json:"key_id"`    // KeyID of the signing key (informational)
}

// Manifest is what a release states about itself.
type Manifest struct {
	Format  int               `json:"format"`  // 1
	Target  string            `json:"target"`  // vm | rpi: which image the release is for
	Version string            `json:"version"` // compared with compareVersions; must be newer than the running one
	Created time.Time         `json:"created"`
	Files   map[string]File   `json:"files"` // "root" (required): the root squashfs
	Notes   string            `json:"notes,omitempty"`
	Extra   map[string]string `json:"extra,omitempty"`
}

// File is one artifact of a release.
type File struct {
	Path   string `json:"path"` // relative to the manifest
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // hex
}

// KeyID names a public key: the first 8 bytes of its SHA-256, hex.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// SignManifest signs m with priv.
func SignManifest(m *Manifest, priv ed25519.PrivateKey) ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	payload, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(priv, append([]byte(signContext), payload...))
	sm := SignedManifest{
		Payload:   base64.StdEncoding.EncodeToString(payload),
		Signature: base64.StdEncoding.EncodeToString(sig),
		KeyID:     KeyID(priv.Public().(ed25519.PublicKey)),
	}
	out, err := json.MarshalIndent(sm, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// Errors a box reports when it refuses a manifest.
var (
	ErrUnsigned     = errors.New("manifest is not signed")
	ErrBadSignature = errors.New("manifest signature does not verify with any trusted key")
)

// VerifyManifest checks raw (the bytes of manifest.json) against the trusted
// keys and returns the manifest only if a signature verifies.
func VerifyManifest(raw []byte, trusted []ed25519.PublicKey) (*Manifest, error) {
	var sm SignedManifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sm); err != nil {
		return nil, fmt.Errorf("manifest is not a signed manifest: %v", err)
	}
	if sm.Signature == "" {
		return nil, ErrUnsigned
	}
	payload, err := base64.StdEncoding.DecodeString(sm.Payload)
	if err != nil || len(payload) == 0 {
		return nil, fmt.Errorf("manifest payload is not base64: %v", err)
	}
	sig, err := base64.StdEncoding.DecodeString(sm.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, ErrBadSignature
	}
	if len(trusted) == 0 {
		return nil, errors.New("no trusted update key configured")
	}
	ok := false
	for _, k := range trusted {
		if len(k) == ed25519.PublicKeySize && ed25519.Verify(k, append([]byte(signContext), payload...), sig) {
			ok = true
			break
		}
	}
	if !ok {
		return nil, ErrBadSignature
	}
	var m Manifest
	dec = json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("signed manifest payload: %v", err)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

func (m *Manifest) validate() error {
	if m.Format != 1 {
		return fmt.Errorf("manifest format %d: this agent understands format 1", m.Format)
	}
	if m.Target == "" {
		return errors.New("manifest has no target")
	}
	if m.Version == "" || strings.ContainsAny(m.Version, " /\\\n") {
		return fmt.Errorf("manifest version %q is not a version", m.Version)
	}
	root, ok := m.Files["root"]
	if !ok {
		return errors.New("manifest names no root file")
	}
	for name, f := range m.Files {
		if f.Path == "" || strings.Contains(f.Path, "..") || strings.HasPrefix(f.Path, "/") {
			return fmt.Errorf("manifest file %s: bad path %q", name, f.Path)
		}
		if b, err := hex.DecodeString(f.SHA256); err != nil || len(b) != sha256.Size {
			return fmt.Errorf("manifest file %s: sha256 %q is not a SHA-256", name, f.SHA256)
		}
		if f.Size <= 0 {
			return fmt.Errorf("manifest file %s: size %d", name, f.Size)
		}
	}
	_ = root
	return nil
}

// compareVersions compares dotted versions numerically where both parts are
// numbers ("1.10" > "1.9"), lexically otherwise; a leading "v" is ignored.
// It returns -1, 0 or +1.
func compareVersions(a, b string) int {
	split := func(s string) []string {
		s = strings.TrimPrefix(strings.TrimSpace(s), "v")
		return strings.FieldsFunc(s, func(r rune) bool { return r == '.' || r == '-' || r == '+' })
	}
	pa, pb := split(a), split(b)
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y string
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
		nx, ex := strconv.ParseUint(x, 10, 64)
		ny, ey := strconv.ParseUint(y, 10, 64)
		switch {
		case x == y:
			continue
		case ex == nil && ey == nil:
			if nx < ny {
				return -1
			}
			return 1
		case x == "": // "1.2" < "1.2.1", but "1.2" > "1.2-rc1" (pre-release)
			if ey == nil {
				return -1
			}
			return 1
		case y == "":
			if ex == nil {
				return 1
			}
			return -1
		case ex == nil: // a number beats a word ("1.0" > "1.dev")
			return 1
		case ey == nil:
			return -1
		case x < y:
			return -1
		default:
			return 1
		}
	}
	return 0
}

// readPublicKeys reads base64 ed25519 public keys, one per line ("#" comments).
func readPublicKeys(path string) ([]ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys []ed25519.PublicKey
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%s: %q is not a base64 ed25519 public key", path, line)
		}
		keys = append(keys, ed25519.PublicKey(k))
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no keys", path)
	}
	return keys, nil
}

// readPrivateKey reads a base64 ed25519 private key (seed or full key).
func readPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: not base64: %v", path, err)
	}
	switch len(k) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(k), nil
	case ed25519.PrivateKeySize:
		return ed25519.PrivateKey(k), nil
	}
	return nil, fmt.Errorf("%s: not an ed25519 private key (%d bytes)", path, len(k))
}
