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

	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/blo"
	"github.com/kordon/kordon/centre"
)

// fileConfig is centre.yaml.
type fileConfig struct {
	centre.Config `yaml:",inline"`
	HTTP          string                 `yaml:"http"`
	ReportDir     string                 `yaml:"report_dir"`
	Users         []centre.User          `yaml:"users"`
	Nodes         []blo.CentreNodeConfig `yaml:"nodes"` // for `all`
}

func load(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	return nil
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
		var cfg blo.CentreNodeConfig
		if err = load(*path, &cfg); err == nil {
			err = runNode(ctx, &cfg, log)
		}
	case "serve", "all":
		var cfg fileConfig
		if err = load(*path, &cfg); err == nil {
			err = serve(ctx, &cfg, os.Args[1] == "all", log)
		}
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
