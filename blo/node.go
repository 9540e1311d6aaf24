package blo

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config is the `blo:` section of a hub's configuration.
type Config struct {
	// Listen is the leaf-node listener where neighbours that dial this hub
	// connect, e.g. "0.0.0.0:7422". Empty: this hub only dials.
	Listen string `yaml:"listen"`
	// Cert and Key are this crossing's link certificate (kordon-certs link),
	// issued by the crossing's own CA.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// StoreDir keeps the JetStream streams (default: <data_dir>/nats).
	StoreDir string `yaml:"store_dir"`
	// MaxBytes bounds what the hub keeps for its links while they are
	// down (default 1 GiB). When it is full new messages are refused and
	// counted, never old ones silently dropped.
	MaxBytes   int64       `yaml:"max_bytes"`
	Neighbours []Neighbour `yaml:"neighbours"`
	Centre     *Peer       `yaml:"centre"`
	// DocumentKey is the key file (hex) the crossings share with the
	// centre: document numbers go up only as keyed hashes made with it.
	DocumentKey string `yaml:"document_key"`
}

// Peer is the other end of a link: its site id (as its link certificate
// names it), the one CA trusted for it, and where to dial it (none: it
// dials us).
type Peer struct {
	Site string   `yaml:"site"`
	CA   string   `yaml:"ca"`
	URLs []string `yaml:"urls"`
}

// Neighbour is the sister BLO across the border and what may go to it.
type Neighbour struct {
	Peer   `yaml:",inline"`
	Policy string `yaml:"policy"` // sharing policy file (policy.go)
}

// Node is a site's embedded NATS server with JetStream in its own domain.
// It keeps working, and keeps what it must send, with every link down.
type Node struct {
	Site    string
	srv     *server.Server
	creds   map[string][2]string // account -> user, password of the site's own engine
	Refused atomic.Int64         // link handshakes refused by the per-peer check

	hasCentre bool
}

// nodeSpec is what a Node is built from, shared by hubs and centre nodes.
type nodeSpec struct {
	site, domain string
	serverName   string
	storeDir     string
	maxBytes     int64
	cert, key    string
	leafListen   string
	// accounts the site's engine uses (JetStream enabled in each)
	accounts []string
	// leafUsers maps a peer site to the account its leaf connection lands in
	leafUsers map[string]string
	leafDeny  map[string][]string // peer site -> subjects it may not publish here
	// remotes this site dials
	remotes []remoteSpec
	peerCAs map[string]string // site -> CA file
	// centre cluster
	cluster       string
	clusterListen string
	routes        []string
	clientListen  string
	users         map[string][2]string // extra client users: account -> user,password
	// ownCA is the site's own CA: when set, client connections and routes
	// are mutual TLS, admitted only with a certificate naming this site.
	ownCA string
}

type remoteSpec struct {
	peer, account string
	urls          []string
	denyImports   []string
}

func randomSecret() string {
	b := make([]byte, 18)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func quote(s string) string { return strconv.Quote(s) }

// conf renders the server configuration. The NATS configuration format is
// used (rather than filling server.Options by hand) because per-account
// JetStream and leaf authorisation are only complete through its parser;
// TLS is then set on the parsed options, where the per-peer check can be
// attached.
func (n *nodeSpec) conf(creds map[string][2]string) string {
	var b strings.Builder
	name := n.serverName
	if name == "" {
		name = n.site
	}
	fmt.Fprintf(&b, "server_name: %s\n", quote(name))
	listen := n.clientListen
	if listen == "" {
		listen = "127.0.0.1:-1"
	}
	fmt.Fprintf(&b, "listen: %s\n", quote(listen))
	maxBytes := n.maxBytes
	if maxBytes <= 0 {
		maxBytes = 1 << 30
	}
	fmt.Fprintf(&b, "jetstream { store_dir: %s, domain: %s, max_file_store: %d, max_memory_store: %d }\n",
		quote(n.storeDir), quote(n.domain), maxBytes+64<<20, 64<<20)
	// A peer's leaf connection is mapped by its certificate to a user of
	// the account it may use (verify_and_map); the user's permissions are
	// what the peer may publish here. Users (not leafnodes.authorization)
	// because only users carry permissions for an accepted leaf.
	peersOf := map[string][]string{}
	for peer, acc := range n.leafUsers {
		peersOf[acc] = append(peersOf[acc], peer)
	}
	b.WriteString("accounts {\n")
	for _, acc := range n.accounts {
		c := creds[acc]
		fmt.Fprintf(&b, "  %s { jetstream: enabled, users: [\n    {user: %s, password: %s}\n", acc, quote(c[0]), quote(c[1]))
		if u, ok := n.users[acc]; ok {
			fmt.Fprintf(&b, "    {user: %s, password: %s}\n", quote(u[0]), quote(u[1]))
		}
		for _, peer := range peersOf[acc] {
			fmt.Fprintf(&b, "    {user: %s, allowed_connection_types: [\"LEAFNODE\"]", quote(LinkUser(peer)))
			if deny := n.leafDeny[peer]; len(deny) > 0 {
				fmt.Fprintf(&b, ", permissions: { publish: { deny: [%s] } }", quoteList(deny))
			}
			b.WriteString("}\n")
		}
		b.WriteString("  ] }\n")
	}
	b.WriteString("}\n")
	if n.cluster != "" {
		fmt.Fprintf(&b, "cluster { name: %s, listen: %s, routes: [", quote(n.cluster), quote(n.clusterListen))
		for i, r := range n.routes {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quote(r))
		}
		b.WriteString("] }\n")
	}
	if n.leafListen != "" || len(n.remotes) > 0 {
		b.WriteString("leafnodes {\n")
		if n.leafListen != "" {
			// A site dials the addresses configured for it, not the ones
			// the centre's nodes would tell it of (their own, maybe behind
			// NAT): a link is the configured path, and cutting it cuts it.
			fmt.Fprintf(&b, "  listen: %s, no_advertise: true\n", quote(n.leafListen))
		}
		if len(n.remotes) > 0 {
			b.WriteString("  remotes: [\n")
			for _, r := range n.remotes {
				fmt.Fprintf(&b, "    { urls: [%s], account: %s", quoteList(r.urls), r.account)
				if len(r.denyImports) > 0 {
					fmt.Fprintf(&b, ", deny_imports: [%s]", quoteList(r.denyImports))
				}
				b.WriteString(" }\n")
			}
			b.WriteString("  ]\n")
		}
		b.WriteString("}\n")
	}
	return b.String()
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = quote(s)
	}
	return strings.Join(q, ", ")
}

// start builds, configures TLS for and starts the server.
func (n *nodeSpec) start(log *slog.Logger) (*Node, error) {
	if err := os.MkdirAll(n.storeDir, 0o700); err != nil {
		return nil, err
	}
	creds := map[string][2]string{}
	for _, acc := range n.accounts {
		creds[acc] = [2]string{"engine-" + strings.ToLower(acc), randomSecret()}
	}
	opts := &server.Options{}
	if err := opts.ProcessConfigString(n.conf(creds)); err != nil {
		return nil, fmt.Errorf("nats config: %w", err)
	}
	if n.clientListen == "" {
		opts.DontListen = true // the site's engine connects in-process only
	}
	opts.NoSigs = true
	opts.LeafNode.ReconnectInterval = time.Second
	node := &Node{Site: n.site, creds: creds}
	if n.ownCA != "" {
		cert, err := tls.LoadX509KeyPair(n.cert, n.key)
		if err != nil {
			return nil, fmt.Errorf("link certificate: %w", err)
		}
		own, err := loadPool(n.ownCA)
		if err != nil {
			return nil, fmt.Errorf("own CA: %w", err)
		}
		t := &trust{pools: map[string]*x509.CertPool{n.site: own}, refused: &node.Refused}
		if n.clientListen != "" {
			tc, err := t.acceptTLS(cert, []string{n.ownCA})
			if err != nil {
				return nil, err
			}
			opts.TLSConfig, opts.TLS, opts.TLSVerify, opts.TLSTimeout = tc, true, true, 5
		}
		if n.cluster != "" {
			opts.Cluster.TLSConfig, opts.Cluster.TLSTimeout = t.routeTLS(cert, n.site, own), 5
		}
	}
	if n.leafListen != "" || len(n.remotes) > 0 {
		cert, err := tls.LoadX509KeyPair(n.cert, n.key)
		if err != nil {
			return nil, fmt.Errorf("link certificate: %w", err)
		}
		t := &trust{pools: map[string]*x509.CertPool{}, refused: &node.Refused}
		var caFiles []string
		for site, f := range n.peerCAs {
			p, err := loadPool(f)
			if err != nil {
				return nil, fmt.Errorf("CA of %s: %w", site, err)
			}
			t.pools[site] = p
			caFiles = append(caFiles, f)
		}
		if n.leafListen != "" {
			tc, err := t.acceptTLS(cert, caFiles)
			if err != nil {
				return nil, err
			}
			opts.LeafNode.TLSConfig = tc
			opts.LeafNode.TLSMap = true
			opts.LeafNode.TLSTimeout = 5
		}
		for i, r := range n.remotes {
			rm := opts.LeafNode.Remotes[i]
			rm.TLS = true
			rm.TLSConfig = t.dialTLS(cert, r.peer)
			rm.TLSTimeout = 5
			for _, u := range rm.URLs {
				u.Scheme = "tls"
			}
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, err
	}
	if log != nil {
		srv.SetLoggerV2(natsLogger{log.With("part", "nats")}, false, false, false)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("nats server %s did not start", n.site)
	}
	node.srv = srv
	return node, nil
}

// Connect opens an in-process connection to one of the node's accounts
// as the site's engine.
func (n *Node) Connect(account string, extra ...nats.Option) (*nats.Conn, error) {
	c, ok := n.creds[account]
	if !ok {
		return nil, fmt.Errorf("no account %s", account)
	}
	opts := append([]nats.Option{nats.InProcessServer(n.srv), nats.UserInfo(c[0], c[1]),
		nats.Name(n.Site + "-engine"), nats.MaxReconnects(-1)}, extra...)
	return nats.Connect("", opts...)
}

// Server is the embedded server (tests, monitoring).
func (n *Node) Server() *server.Server { return n.srv }

// Close shuts the server down.
func (n *Node) Close() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
	}
}

// Links reports, per remote site, whether its leaf connection is up.
func (n *Node) Links() map[string]bool {
	up := map[string]bool{}
	lz, err := n.srv.Leafz(&server.LeafzOptions{})
	if err != nil {
		return up
	}
	for _, l := range lz.Leafs {
		up[l.Account] = true
	}
	return up
}

// HubNode starts a hub's node: the HUB account with the uplink, and one
// account per neighbour holding what is exchanged with it.
func HubNode(site string, cfg *Config, dataDir string, log *slog.Logger) (*Node, error) {
	if err := ValidSite(site); err != nil {
		return nil, err
	}
	store := cfg.StoreDir
	if store == "" {
		store = filepath.Join(dataDir, "nats")
	}
	spec := &nodeSpec{site: site, domain: site, storeDir: store, maxBytes: cfg.MaxBytes, cert: cfg.Cert, key: cfg.Key,
		leafListen: cfg.Listen, accounts: []string{HubAccount}, leafUsers: map[string]string{},
		leafDeny: map[string][]string{}, peerCAs: map[string]string{}}
	// What a peer may never send into this hub: our own crossing's
	// subjects (so it cannot write into what we send), and the stream
	// management API of our domain.
	deny := []string{"kordon." + site + ".>",
		"$JS." + site + ".API.STREAM.CREATE.>", "$JS." + site + ".API.STREAM.UPDATE.>",
		"$JS." + site + ".API.STREAM.DELETE.>", "$JS." + site + ".API.STREAM.PURGE.>",
		"$JS." + site + ".API.STREAM.MSG.DELETE.>", "$JS." + site + ".API.STREAM.SNAPSHOT.>",
		"$JS." + site + ".API.STREAM.RESTORE.>"}
	for _, nb := range cfg.Neighbours {
		if err := ValidSite(nb.Site); err != nil {
			return nil, err
		}
		acc := NbAccount(nb.Site)
		spec.accounts = append(spec.accounts, acc)
		spec.peerCAs[nb.Site] = nb.CA
		if len(nb.URLs) > 0 {
			spec.remotes = append(spec.remotes, remoteSpec{peer: nb.Site, account: acc, urls: nb.URLs, denyImports: deny})
		} else {
			spec.leafUsers[nb.Site] = acc
			spec.leafDeny[nb.Site] = deny
		}
	}
	if c := cfg.Centre; c != nil {
		site := c.Site
		if site == "" {
			site = CentreDomain
		}
		spec.peerCAs[site] = c.CA
		spec.remotes = append(spec.remotes, remoteSpec{peer: site, account: HubAccount, urls: c.URLs, denyImports: deny})
	}
	if len(spec.leafUsers) == 0 {
		spec.leafListen = ""
	}
	node, err := spec.start(log)
	if err != nil {
		return nil, err
	}
	node.hasCentre = cfg.Centre != nil
	if err := node.hubStreams(cfg); err != nil {
		node.Close()
		return nil, err
	}
	return node, nil
}

// hubStreams creates (or updates) the hub's streams.
func (n *Node) hubStreams(cfg *Config) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	maxBytes := cfg.MaxBytes
	if maxBytes <= 0 {
		maxBytes = 1 << 30
	}
	per := maxBytes / int64(1+2*len(cfg.Neighbours))
	keep := func(name string, subjects []string) jetstream.StreamConfig {
		return jetstream.StreamConfig{Name: name, Subjects: subjects, Storage: jetstream.FileStorage,
			Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardNew, MaxBytes: per,
			MaxAge: 90 * 24 * time.Hour, Duplicates: time.Hour}
	}
	nc, err := n.Connect(HubAccount)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateOrUpdateStream(ctx, keep(UplinkStream, []string{UpFilter(n.Site)})); err != nil {
		return fmt.Errorf("stream %s: %w", UplinkStream, err)
	}
	if cfg.Centre != nil {
		if err := sourceConsumer(ctx, js, UplinkStream, n.Site, CentreDomain, UpFilter(n.Site)); err != nil {
			return fmt.Errorf("stream %s, the centre's consumer: %w", UplinkStream, err)
		}
	}
	for _, nb := range cfg.Neighbours {
		nc, err := n.Connect(NbAccount(nb.Site))
		if err != nil {
			return err
		}
		js, _ := jetstream.New(nc)
		if _, err := js.CreateOrUpdateStream(ctx, keep(OutStream, []string{NbFilter(n.Site, nb.Site)})); err != nil {
			nc.Close()
			return fmt.Errorf("stream %s for %s: %w", OutStream, nb.Site, err)
		}
		if err := sourceConsumer(ctx, js, OutStream, n.Site, nb.Site, NbFilter(n.Site, nb.Site)); err != nil {
			nc.Close()
			return fmt.Errorf("stream %s for %s, its consumer: %w", OutStream, nb.Site, err)
		}
		in := keep(InStream, nil)
		in.Sources = []*jetstream.StreamSource{durableSource(OutStream, nb.Site, n.Site)}
		if _, err := js.CreateOrUpdateStream(ctx, in); err != nil {
			nc.Close()
			return fmt.Errorf("stream %s from %s: %w", InStream, nb.Site, err)
		}
		nc.Close()
	}
	return nil
}

type natsLogger struct{ l *slog.Logger }

func (n natsLogger) Noticef(f string, v ...any) { n.l.Debug(fmt.Sprintf(f, v...)) }
func (n natsLogger) Warnf(f string, v ...any)   { n.l.Warn(fmt.Sprintf(f, v...)) }
func (n natsLogger) Fatalf(f string, v ...any)  { n.l.Error(fmt.Sprintf(f, v...)) }
func (n natsLogger) Errorf(f string, v ...any)  { n.l.Warn(fmt.Sprintf(f, v...)) }
func (n natsLogger) Debugf(f string, v ...any)  {}
func (n natsLogger) Tracef(f string, v ...any)  {}
