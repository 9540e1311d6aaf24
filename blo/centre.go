package blo

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// CentreNodeConfig is one of the coordination centre's NATS servers. The
// centre runs three, clustered, so its streams keep three replicas and any
// one node can be lost.
type CentreNodeConfig struct {
	Name          string   `yaml:"name"`           // server name, e.g. c1
	Listen        string   `yaml:"listen"`         // client listener for kordon-centre
	LeafListen    string   `yaml:"leaf_listen"`    // where crossings' hubs connect
	ClusterListen string   `yaml:"cluster_listen"` // routes between the centre's nodes
	Routes        []string `yaml:"routes"`         // nats-route://host:port of the other nodes
	Cert          string   `yaml:"cert"`           // the centre's link certificate (site "centre")
	Key           string   `yaml:"key"`
	// CA is the centre's own CA. kordon-centre's connections (with a
	// certificate naming the centre) and the routes between the nodes are
	// mutual TLS, admitted only from it.
	CA       string `yaml:"ca"`
	StoreDir string `yaml:"store_dir"`
	MaxBytes int64  `yaml:"max_bytes"`
	// Crossings admitted: each crossing's own CA.
	Crossings []Peer `yaml:"crossings"`
	// ReaderUser/ReaderPassword is kordon-centre's log-in in every
	// crossing's account.
	ReaderUser     string `yaml:"reader_user"`
	ReaderPassword string `yaml:"reader_password"`
}

// CentreNode starts one centre server. Each crossing's hub lands, by its
// certificate, in that crossing's own account: what one crossing sends can
// only ever be in its own account and stream, whatever it claims.
func CentreNode(cfg *CentreNodeConfig, log *slog.Logger) (*Node, error) {
	if cfg.ReaderUser == "" || cfg.ReaderPassword == "" {
		return nil, fmt.Errorf("centre node %s: reader_user and reader_password are required", cfg.Name)
	}
	if cfg.CA == "" {
		return nil, fmt.Errorf("centre node %s: ca (the centre's own CA) is required: kordon-centre's connections and the routes are mutual TLS", cfg.Name)
	}
	spec := &nodeSpec{site: CentreDomain, serverName: cfg.Name, domain: CentreDomain, storeDir: cfg.StoreDir,
		maxBytes: cfg.MaxBytes, cert: cfg.Cert, key: cfg.Key, leafListen: cfg.LeafListen,
		leafUsers: map[string]string{}, leafDeny: map[string][]string{}, peerCAs: map[string]string{},
		cluster: "centre", clusterListen: cfg.ClusterListen, routes: cfg.Routes, clientListen: cfg.Listen,
		users: map[string][2]string{}, ownCA: cfg.CA}
	for _, x := range cfg.Crossings {
		if err := ValidSite(x.Site); err != nil {
			return nil, err
		}
		acc := CrossingAccount(x.Site)
		spec.accounts = append(spec.accounts, acc)
		spec.leafUsers[x.Site] = acc
		// A hub never publishes here: its messages arrive on the delivery
		// subjects of the centre's sourcing consumers.
		spec.leafDeny[x.Site] = []string{"kordon.>", "$JS." + CentreDomain + ".API.>"}
		spec.peerCAs[x.Site] = x.CA
		spec.users[acc] = [2]string{ReaderName(cfg.ReaderUser, x.Site), cfg.ReaderPassword}
	}
	return spec.start(log)
}

// ReaderName is kordon-centre's user name in a crossing's account (NATS
// user names are unique across accounts).
func ReaderName(user, crossing string) string { return user + "@" + crossing }

// EnsureFeed creates or updates, in a crossing's account at the centre,
// the replicated stream that sources the crossing's uplink through its
// leaf connection, by the consumer the hub keeps for the centre (source.go).
func EnsureFeed(ctx context.Context, js jetstream.JetStream, crossing string, replicas int) (jetstream.Stream, error) {
	cfg := jetstream.StreamConfig{
		Name: FeedStream, Storage: jetstream.FileStorage, Replicas: replicas,
		Retention: jetstream.LimitsPolicy, MaxAge: 30 * 24 * time.Hour, Duplicates: time.Hour,
		Sources: []*jetstream.StreamSource{durableSource(UplinkStream, crossing, CentreDomain)},
	}
	return retry(ctx, func(ctx context.Context) (jetstream.Stream, error) { return js.CreateOrUpdateStream(ctx, cfg) })
}

// retry repeats a JetStream API call until ctx ends: while a cluster
// elects its leaders, or a link is still coming up, a request can go
// unanswered rather than fail. The wait for an answer starts short and
// grows: a fresh cluster's first requests go unanswered until it has a
// meta leader (a second or so), and waiting the longest answer time for
// each of them made a fresh centre's feeds ten seconds late.
func retry[T any](ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	wait := 500 * time.Millisecond
	for {
		c, cancel := context.WithTimeout(ctx, wait)
		v, err := f(c)
		cancel()
		if err == nil || ctx.Err() != nil {
			return v, err
		}
		wait = min(2*wait, 10*time.Second)
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}
