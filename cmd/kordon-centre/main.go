// Command kordon-centre is the national coordination centre of the BLO
// network (docs/blo-network.md):
//
//	kordon-centre node  -config node.yaml     one of the centre's three NATS servers
//	kordon-centre serve -config centre.yaml   consumer into PostgreSQL, dashboard, weekly reports
//	kordon-centre all   -config centre.yaml   the nodes listed in centre.yaml in this process, then serve (demo)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kordon/kordon/blo"
	"github.com/kordon/kordon/centre"
	"github.com/kordon/kordon/internal/config"
)

// fileConfig is centre.yaml.
type fileConfig struct {
	centre.Config `yaml:",inline"`
	HTTP          string                 `yaml:"http"`
	ReportDir     string                 `yaml:"report_dir"`
	Users         []centre.User          `yaml:"users"`
	Nodes         []blo.CentreNodeConfig `yaml:"nodes"` // for `all`
}

// loadNode reads and checks a node's configuration (file:line: field
// for every mistake, as hubd's).
func loadNode(path string) (*blo.CentreNodeConfig, error) {
	var c blo.CentreNodeConfig
	d := config.Load(path, &c)
	if d.Failed() {
		return nil, d.Err()
	}
	checkNode(d, "", &c)
	return &c, d.Err()
}

func checkNode(d *config.Doc, at string, c *blo.CentreNodeConfig) {
	d.Required(at+"name", c.Name, "the server's name, e.g. c1")
	for _, f := range []struct{ field, path, what string }{
		{"cert", c.Cert, "the centre's link certificate (kordon-certs link -site centre)"},
		{"key", c.Key, "its key"},
		{"ca", c.CA, "the centre's own CA: kordon-centre's connections and the routes are mutual TLS"},
	} {
		if d.Required(at+f.field, f.path, f.what) {
			d.Readable(at+f.field, f.path)
		}
	}
	d.Required(at+"store_dir", c.StoreDir, "where the node keeps its streams")
	d.Required(at+"reader_user", c.ReaderUser, "kordon-centre's log-in in each crossing's account")
	d.Required(at+"reader_password", c.ReaderPassword, "")
	for i, x := range c.Crossings {
		f := fmt.Sprintf("%scrossings[%d]", at, i)
		if err := blo.ValidSite(x.Site); err != nil {
			d.Errorf(f+".site", "%v", err)
		}
		if d.Required(f+".ca", x.CA, "the crossing's own CA") {
			d.Readable(f+".ca", x.CA)
		}
	}
}

// loadCentre reads and checks centre.yaml.
func loadCentre(path string) (*fileConfig, error) {
	var c fileConfig
	d := config.Load(path, &c)
	if d.Failed() {
		return nil, d.Err()
	}
	d.Required("postgres", c.DSN, "the database, e.g. postgres://kordon@127.0.0.1/kordon")
	for i, x := range c.Crossings {
		if err := blo.ValidSite(x); err != nil {
			d.Errorf(fmt.Sprintf("crossings[%d]", i), "%v", err)
		}
	}
	for _, f := range []struct{ field, path string }{{"cert", c.Cert}, {"key", c.Key}, {"ca", c.CA}} {
		if f.path != "" {
			d.Readable(f.field, f.path)
		}
	}
	if (c.Cert == "") != (c.CA == "") || (c.Cert == "") != (c.Key == "") {
		d.Errorf("cert", "cert, key and ca go together: kordon-centre's mutual TLS to its nodes")
	}
	users := map[string]bool{}
	for i, u := range c.Users {
		at := fmt.Sprintf("users[%d]", i)
		if d.Name(at+".user", u.User) {
			if users[u.User] {
				d.Errorf(at+".user", "user %q appears twice", u.User)
			}
			users[u.User] = true
		}
		if d.Required(at+".role", u.Role, "analyst or supervisor") {
			d.OneOf(at+".role", u.Role, centre.RoleAnalyst, centre.RoleSupervisor)
		}
		d.Required(at+".password_hash", u.PasswordHash, "make one with: hubd passwd")
	}
	for i := range c.Nodes {
		checkNode(d, fmt.Sprintf("nodes[%d].", i), &c.Nodes[i])
	}
	return &c, d.Err()
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kordon-centre node|serve|all -config FILE")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	path := fs.String("config", "", "configuration file")
	fs.Parse(os.Args[2:])
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "node":
		cfg, cerr := loadNode(*path)
		if cerr != nil {
			config.Report(os.Stderr, "kordon-centre", cerr, "the node does not start")
			os.Exit(1)
		}
		err = runNode(ctx, cfg, log)
	case "serve", "all":
		cfg, cerr := loadCentre(*path)
		if cerr != nil {
			config.Report(os.Stderr, "kordon-centre", cerr, "kordon-centre does not start")
			os.Exit(1)
		}
		err = serve(ctx, cfg, os.Args[1] == "all", log)
	default:
		err = errors.New("unknown command " + os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kordon-centre:", err)
		os.Exit(1)
	}
}

func runNode(ctx context.Context, cfg *blo.CentreNodeConfig, log *slog.Logger) error {
	n, err := blo.CentreNode(cfg, log)
	if err != nil {
		return err
	}
	log.Info("centre node started", "name", cfg.Name, "leaf", cfg.LeafListen, "client", cfg.Listen)
	<-ctx.Done()
	n.Close()
	return nil
}

func serve(ctx context.Context, cfg *fileConfig, all bool, log *slog.Logger) error {
	if all {
		errs := make(chan error, len(cfg.Nodes))
		nodes := make([]*blo.Node, len(cfg.Nodes))
		for i := range cfg.Nodes {
			go func() {
				n, err := blo.CentreNode(&cfg.Nodes[i], log)
				nodes[i] = n
				errs <- err
			}()
		}
		for range cfg.Nodes {
			if err := <-errs; err != nil {
				return err
			}
		}
		defer func() {
			for _, n := range nodes {
				if n != nil {
					n.Close()
				}
			}
		}()
		if len(cfg.NATS) == 0 {
			for _, n := range cfg.Nodes {
				cfg.NATS = append(cfg.NATS, "nats://"+n.Listen)
			}
		}
	}
	c, err := centre.New(ctx, cfg.Config, log)
	if err != nil {
		return err
	}
	defer c.Close()
	c.Run(ctx)
	go c.DB().RunReports(ctx, cfg.ReportDir, log)
	if cfg.HTTP != "" {
		web, err := centre.NewWeb(c, cfg.Users, log)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", cfg.HTTP)
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: web.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		log.Info("centre dashboard", "url", "http://"+ln.Addr().String()+"/")
	}
	<-ctx.Done()
	c.Wait()
	return nil
}
