package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func testManifest() *Manifest {
	return &Manifest{Format: 1, Target: "vm", Version: "1.2.0", Created: time.Unix(1700000000, 0).UTC(),
		Files: map[string]File{"root": {Path: "root-1.2.0.squashfs", Size: 42,
			SHA256: strings.Repeat("ab", 32)}}}
}

func keypair(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func TestVerifyGood(t *testing.T) {
	pub, priv := keypair(t)
	raw, err := SignManifest(testManifest(), priv)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := keypair(t)
	m, err := VerifyManifest(raw, []ed25519.PublicKey{other, pub})
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != "1.2.0" || m.Files["root"].Size != 42 {
		t.Fatalf("got %+v", m)
	}
}

func mutate(t *testing.T, raw []byte, f func(sm *SignedManifest)) []byte {
	var sm SignedManifest
	if err := json.Unmarshal(raw, &sm); err != nil {
		t.Fatal(err)
	}
	f(&sm)
	b, _ := json.Marshal(sm)
	return b
}

func TestVerifyRefuses(t *testing.T) {
	pub, priv := keypair(t)
	otherPub, otherPriv := keypair(t)
	_ = otherPub
	raw, _ := SignManifest(testManifest(), priv)
	byOther, _ := SignManifest(testManifest(), otherPriv)

	tamperedPayload := mutate(t, raw, func(sm *SignedManifest) {
		p, _ := base64.StdEncoding.DecodeString(sm.Payload)
		p = []byte(strings.Replace(string(p), "abab", "abac", 1)) // change the root hash
		sm.Payload = base64.StdEncoding.EncodeToString(p)
	})
	tamperedVersion := mutate(t, raw, func(sm *SignedManifest) {
		p, _ := base64.StdEncoding.DecodeString(sm.Payload)
		p = []byte(strings.Replace(string(p), `"1.2.0"`, `"9.9.9"`, 1))
		sm.Payload = base64.StdEncoding.EncodeToString(p)
	})
	flippedSig := mutate(t, raw, func(sm *SignedManifest) {
		s, _ := base64.StdEncoding.DecodeString(sm.Signature)
		s[10] ^= 1
		sm.Signature = base64.StdEncoding.EncodeToString(s)
	})
	unsigned := mutate(t, raw, func(sm *SignedManifest) { sm.Signature = "" })
	plain, _ := json.Marshal(testManifest()) // a bare manifest, never signed

	// A signature over the payload without the context prefix (e.g. the key
	// used for something else) must not pass.
	noContext := mutate(t, raw, func(sm *SignedManifest) {
		p, _ := base64.StdEncoding.DecodeString(sm.Payload)
		sm.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, p))
	})

	for name, tc := range map[string]struct {
		raw  []byte
		keys []ed25519.PublicKey
		want error
	}{
		"tampered payload":  {tamperedPayload, []ed25519.PublicKey{pub}, ErrBadSignature},
		"tampered version":  {tamperedVersion, []ed25519.PublicKey{pub}, ErrBadSignature},
		"flipped signature": {flippedSig, []ed25519.PublicKey{pub}, ErrBadSignature},
		"unsigned":          {unsigned, []ed25519.PublicKey{pub}, ErrUnsigned},
		"untrusted key":     {byOther, []ed25519.PublicKey{pub}, ErrBadSignature},
		"no context":        {noContext, []ed25519.PublicKey{pub}, ErrBadSignature},
		"bare manifest":     {plain, []ed25519.PublicKey{pub}, nil},
		"no trusted keys":   {raw, nil, nil},
		"garbage":           {[]byte("{"), []ed25519.PublicKey{pub}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			m, err := VerifyManifest(tc.raw, tc.keys)
			if err == nil {
				t.Fatalf("accepted: %+v", m)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSignRefusesInvalid(t *testing.T) {
	_, priv := keypair(t)
	m := testManifest()
	m.Files["root"] = File{Path: "../etc/passwd", Size: 1, SHA256: strings.Repeat("00", 32)}
	if _, err := SignManifest(m, priv); err == nil {
		t.Fatal("signed a manifest with a path escaping the release directory")
	}
	m = testManifest()
	delete(m.Files, "root")
	if _, err := SignManifest(m, priv); err == nil {
		t.Fatal("signed a manifest without root")
	}
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.2.0", "1.2.0", 0}, {"1.10.0", "1.9.9", 1}, {"v2", "1.99", 1}, {"1.2", "1.2.1", -1},
		{"dev", "0.0.1", -1}, {"1.2.0-rc1", "1.2.0", -1}, {"1.2.1-rc1", "1.2.0", 1},
	} {
		if got := compareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("compare(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
