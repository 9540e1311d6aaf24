package hub

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
)

// TLSConfig is the production listener (docs/security.md): mutual TLS, each
// box presents a certificate issued by the crossing CA (cmd/kordon-certs)
// whose Common Name is its box id.
type TLSConfig struct {
	Address string `yaml:"address"` // e.g. ":8883"
	CA      string `yaml:"ca"`      // crossing CA certificate (PEM): the only issuer trusted for boxes
	Cert    string `yaml:"cert"`    // the hub's certificate (PEM)
	Key     string `yaml:"key"`     // the hub's key (PEM)
}

// tlsListenerID names the mutual-TLS listener; the auth hook takes identity
// from the certificate only on it.
const tlsListenerID = "boxes-tls"

// serverTLS builds the listener's config. Client certificates are checked
// in VerifyPeerCertificate rather than by ClientAuth's built-in check so a
// refusal can be counted; the check itself is x509.Verify, as the built-in.
func serverTLS(c *TLSConfig, counts *refusals) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	caPEM, err := os.ReadFile(c.CA)
	if err != nil {
		return nil, fmt.Errorf("tls.ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("tls.ca: %s holds no PEM certificate", c.CA)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAnyClientCert,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			err := verifyClient(pool, raw)
			if err != nil {
				counts.add("certificate")
			}
			return err
		},
	}, nil
}

func verifyClient(pool *x509.CertPool, raw [][]byte) error {
	if len(raw) == 0 {
		return errors.New("no client certificate")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, r := range raw {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			return err
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err
}

// startTLS adds the mutual-TLS listener when configured.
func (h *Hub) startTLS() error {
	c := h.cfg.TLS
	if c == nil || c.Address == "" {
		return nil
	}
	tc, err := serverTLS(c, h.auth.counts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.Address)
	if err != nil {
		return fmt.Errorf("tls listen: %w", err)
	}
	h.tlsAddr = ln.Addr()
	ln.Close() // mochi opens its own listener on the address we proved free
	l := newGuardedListener(tlsListenerID, h.tlsAddr.String(), tc, h.auth.guard, h.auth.counts)
	l.broker = h.broker
	h.auth.listeners = append(h.auth.listeners, l)
	return h.broker.AddListener(l)
}

// TLSAddr is the mutual-TLS listener's address, or "".
func (h *Hub) TLSAddr() string {
	if h.tlsAddr == nil {
		return ""
	}
	return h.tlsAddr.String()
}

// peerCN is the verified client certificate's Common Name, or "".
func peerCN(conn net.Conn) string {
	tc, ok := innerConn(conn).(*tls.Conn)
	if !ok {
		return ""
	}
	st := tc.ConnectionState()
	if len(st.PeerCertificates) == 0 {
		return ""
	}
	return st.PeerCertificates[0].Subject.CommonName
}
