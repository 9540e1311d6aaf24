package blo

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"github.com/kordon/kordon/cmd/kordon-certs/certs"
)

// Every site keeps its own CA, so "a certificate our CAs accept" is not
// enough to admit a peer: a crossing's CA could otherwise issue a
// certificate naming its neighbour. Each link is checked against the one CA
// configured for the site the certificate names, and against the site the
// link expects. The TLS library's own verification runs first (against the
// union of the configured CAs, which the NATS server needs for
// verify_and_map); this check narrows it.

// SiteOf is the site id a link certificate names in its URI SAN.
func SiteOf(c *x509.Certificate) (string, error) {
	var site string
	for _, u := range c.URIs {
		if s, ok := strings.CutPrefix(u.String(), certs.LinkURIPrefix); ok {
			if site != "" {
				return "", errors.New("certificate names more than one site")
			}
			site = s
		}
	}
	if site == "" {
		return "", errors.New("certificate names no site (" + certs.LinkURIPrefix + "… URI)")
	}
	return site, nil
}

// LinkUser is the NATS user a leaf connection from site maps to.
func LinkUser(site string) string { return certs.LinkURIPrefix + site }

// trust is the CAs of the configured peers, by site.
type trust struct {
	pools   map[string]*x509.CertPool
	refused *atomic.Int64
}

func loadPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return p, nil
}

// verify admits a chain only if its leaf names a site in want (or any
// configured site when want is empty) and chains to that site's own CA.
func (t *trust) verify(want string) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		err := t.check(raw, want)
		if err != nil && t.refused != nil {
			t.refused.Add(1)
		}
		return err
	}
}

func (t *trust) check(raw [][]byte, want string) error {
	if len(raw) == 0 {
		return errors.New("no certificate")
	}
	leaf, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return err
	}
	site, err := SiteOf(leaf)
	if err != nil {
		return err
	}
	if want != "" && site != want {
		return fmt.Errorf("peer is %q, this link is configured for %q", site, want)
	}
	pool, ok := t.pools[site]
	if !ok {
		return fmt.Errorf("site %q is not a configured peer", site)
	}
	inter := x509.NewCertPool()
	for _, r := range raw[1:] {
		if c, err := x509.ParseCertificate(r); err == nil {
			inter.AddCert(c)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("site %q: certificate is not from its CA: %w", site, err)
	}
	return nil
}

// acceptTLS is the leaf listener's config: a certificate is required and
// must be a configured peer's, from its own CA.
func (t *trust) acceptTLS(cert tls.Certificate, caFiles []string) (*tls.Config, error) {
	all := x509.NewCertPool()
	for _, f := range caFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		all.AppendCertsFromPEM(b)
	}
	// The NATS server reads ClientAuth from this config to know that
	// certificates are verified (and may be mapped to users); the
	// handshake itself runs with the config GetConfigForClient returns,
	// whose one check is the per-peer one, so that every refusal is seen
	// and counted.
	handshake := &tls.Config{
		MinVersion:            tls.VersionTLS12,
		Certificates:          []tls.Certificate{cert},
		ClientAuth:            tls.RequireAnyClientCert,
		VerifyPeerCertificate: t.verify(""),
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		Certificates:       []tls.Certificate{cert},
		ClientAuth:         tls.RequireAndVerifyClientCert,
		ClientCAs:          all,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return handshake, nil },
	}, nil
}

// dialTLS is the config of a link this site makes to peer: the server must
// be that peer, certified by its CA.
func (t *trust) dialTLS(cert tls.Certificate, peer string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		RootCAs:      t.pools[peer],
		// The host name check is replaced by the site check: the peer is
		// named by its certificate's site URI, not by where it is reached.
		InsecureSkipVerify:    true,
		VerifyPeerCertificate: t.verify(peer),
	}
}

// routeTLS is the config of the routes between the centre's nodes, used
// both to accept and to dial: the other node must present a certificate
// naming site from ca (the centre's own CA).
func (t *trust) routeTLS(cert tls.Certificate, site string, ca *x509.CertPool) *tls.Config {
	handshake := &tls.Config{
		MinVersion:            tls.VersionTLS12,
		Certificates:          []tls.Certificate{cert},
		ClientAuth:            tls.RequireAnyClientCert,
		VerifyPeerCertificate: t.verify(site),
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		Certificates:       []tls.Certificate{cert},
		ClientAuth:         tls.RequireAndVerifyClientCert,
		ClientCAs:          ca,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return handshake, nil },
		// Dialling: the site check replaces the host name check, as for links.
		RootCAs:               ca,
		InsecureSkipVerify:    true,
		VerifyPeerCertificate: t.verify(site),
	}
}

// CentreClientTLS is kordon-centre's side of its connections to the
// centre's nodes: it presents certFile (a link certificate naming the
// centre, from the centre's CA), and a node must present one naming the
// centre from caFile.
func CentreClientTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("centre certificate: %w", err)
	}
	pool, err := loadPool(caFile)
	if err != nil {
		return nil, fmt.Errorf("centre CA: %w", err)
	}
	t := &trust{pools: map[string]*x509.CertPool{CentreDomain: pool}}
	return t.dialTLS(cert, CentreDomain), nil
}
