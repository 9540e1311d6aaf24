// Package certs issues the certificates of one crossing (docs/security.md):
// a crossing CA, a server certificate for the hub, and a client
// certificate per box whose Common Name is the box id the hub's ACL binds.
// Keys are ECDSA P-256: small, fast on a box's CPU, supported by every TLS 1.2+ peer.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Pair is a certificate and its private key, both PEM.
type Pair struct {
	CertPEM, KeyPEM []byte
	Cert            *x509.Certificate
	key             *ecdsa.PrivateKey
}

// NewCA makes a crossing CA valid for years.
func NewCA(crossing string, years int) (*Pair, error) {
	return issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "Kordon CA " + crossing, Organization: []string{"kordon"}, OrganizationalUnit: []string{crossing}},
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, years, nil)
}

// NewBox issues a box's client certificate: CN is the box id.
func NewBox(ca *Pair, box string, years int) (*Pair, error) {
	if box == "" {
		return nil, errors.New("box id is empty")
	}
	return issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: box, Organization: []string{"kordon"}, OrganizationalUnit: ca.Cert.Subject.OrganizationalUnit},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, years, ca)
}

// NewHub issues the hub's server certificate for the given DNS names and IPs.
func NewHub(ca *Pair, names []string, years int) (*Pair, error) {
	t := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "hub", Organization: []string{"kordon"}, OrganizationalUnit: ca.Cert.Subject.OrganizationalUnit},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			t.IPAddresses = append(t.IPAddresses, ip)
		} else if n != "" {
			t.DNSNames = append(t.DNSNames, n)
		}
	}
	if len(t.IPAddresses)+len(t.DNSNames) == 0 {
		return nil, errors.New("the hub certificate needs at least one name or IP")
	}
	return issue(t, years, ca)
}

func issue(t *x509.Certificate, years int, ca *Pair) (*Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	t.SerialNumber = serial
	t.NotBefore = time.Now().Add(-time.Hour) // a box clock a little behind still accepts it
	t.NotAfter = time.Now().AddDate(max(years, 1), 0, 0)
	parent, signer := t, key
	if ca != nil {
		parent, signer = ca.Cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, t, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &Pair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}),
		Cert:    cert, key: key,
	}, nil
}

// Write saves name.pem and name.key (0600) in dir; it never overwrites.
func (p *Pair) Write(dir, name string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// Both are checked first so a refusal never leaves half a pair behind.
	for _, ext := range []string{".key", ".pem"} {
		if path := filepath.Join(dir, name+ext); fileExists(path) {
			return fmt.Errorf("%s already exists (refusing to overwrite)", path)
		}
	}
	for _, f := range []struct {
		ext  string
		data []byte
		mode os.FileMode
	}{{".key", p.KeyPEM, 0o600}, {".pem", p.CertPEM, 0o644}} {
		path := filepath.Join(dir, name+f.ext)
		fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.mode)
		if err != nil {
			return fmt.Errorf("%s: %w (refusing to overwrite)", path, err)
		}
		if _, err := fh.Write(f.data); err != nil {
			fh.Close()
			return err
		}
		if err := fh.Close(); err != nil {
			return err
		}
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// Load reads name.pem and name.key from dir (a CA, to issue with).
func Load(dir, name string) (*Pair, error) {
	cp, err := os.ReadFile(filepath.Join(dir, name+".pem"))
	if err != nil {
		return nil, err
	}
	kp, err := os.ReadFile(filepath.Join(dir, name+".key"))
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(cp)
	kb, _ := pem.Decode(kp)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("%s: not PEM", filepath.Join(dir, name))
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	return &Pair{CertPEM: cp, KeyPEM: kp, Cert: cert, key: key}, nil
}
