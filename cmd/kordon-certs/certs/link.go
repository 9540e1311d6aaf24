package certs

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"net/url"
)

// LinkURIPrefix begins the URI SAN that names a site on the BLO network
// (blo/, docs/blo-network.md). The NATS servers map a leaf connection to
// its account by this URI, and the per-peer check pins it to that site's CA.
const LinkURIPrefix = "urn:kordon:site:"

// NewLink makes the certificate a site's NATS server presents on its links
// to a neighbouring crossing or to the coordination centre: the site id is
// in a URI SAN, and the certificate serves both ends of a link (it accepts
// leaf connections and makes them).
func NewLink(ca *Pair, site string, names []string, years int) (*Pair, error) {
	if site == "" {
		return nil, errors.New("a link certificate needs a site id")
	}
	u, err := url.Parse(LinkURIPrefix + site)
	if err != nil {
		return nil, err
	}
	t := &x509.Certificate{
		Subject:     pkix.Name{CommonName: site, Organization: []string{"kordon"}, OrganizationalUnit: ca.Cert.Subject.OrganizationalUnit},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:        []*url.URL{u},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			t.IPAddresses = append(t.IPAddresses, ip)
		} else if n != "" {
			t.DNSNames = append(t.DNSNames, n)
		}
	}
	return issue(t, years, ca)
}
