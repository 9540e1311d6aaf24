// Command edged runs on an edge box: it drives the devices wired to it and
// forwards their readings to the station hub.
//
//	edged -config /perm/kordon/edged.yaml
//	edged -check -config edged.yaml    list every mistake in the file and exit
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/kordon/kordon/drivers/all"
	"github.com/kordon/kordon/edge"
	"github.com/kordon/kordon/internal/cli"
	"github.com/kordon/kordon/internal/config"
	"github.com/kordon/kordon/internal/logging"
	"github.com/kordon/kordon/internal/memtrim"
	"github.com/kordon/kordon/internal/version"
)

const help = `usage:
  edged [-config /perm/kordon/edged.yaml] [-log-level info]   run the box
  edged -check [-config edged.yaml]                           check the configuration, list every mistake, exit
  edged -version                                              print the version

edged runs on an edge box: it drives the devices wired to it, keeps every
reading on disk until the hub has it, serves the booth screen and the status
page. It has no subcommands; hwtest is the bench tool (docs/edged.md).`

func main() {
	fs := cli.New("edged", help)
	configPath := fs.String("config", "/perm/kordon/edged.yaml", "box configuration file")
	check := fs.Bool("check", false, "check the configuration, list every mistake, and exit")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (default: the config's log_level, else info)")
	cli.MustParse(fs, os.Args[1:])
	if fs.NArg() > 0 {
		os.Exit(cli.Usagef(fs, os.Stderr, "unexpected argument %q", fs.Arg(0)))
	}
	// A box has little memory, and edged's live heap stays at a few MiB
	// whatever the backlog (docs/delivery.md): collect sooner than Go's
	// default so the heap stays near it. GOGC and GOMEMLIMIT still win.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(25)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(12 << 20)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A reload-config command ends Run with ErrReload once the new file has
	// been validated; the box then starts again on it, in the same process,
	// so the outbox and sequence numbers carry straight on.
	for first := true; ; first = false {
		cfg, devices, err := edge.LoadConfig(*configPath, all.Drivers())
		if err != nil {
			config.Report(os.Stderr, "edged", err, "edged does not start")
			os.Exit(2)
		}
		if *check {
			fmt.Printf("%s: ok (%d devices)\n", *configPath, len(devices))
			return
		}
		lvl := *logLevel
		if lvl == "" {
			lvl = cfg.LogLevel
		}
		level, err := logging.ParseLevel(lvl)
		if err != nil {
			os.Exit(cli.Usagef(fs, os.Stderr, "-log-level: %v", err))
		}
		blog := logging.New(os.Stderr, level).With("box", cfg.Box)
		box, err := edge.New(cfg, devices, all.Drivers(), blog)
		if err != nil {
			fmt.Fprintln(os.Stderr, "edged:", err)
			os.Exit(1)
		}
		if first {
			blog.Info("edged starting", "crossing", cfg.Crossing, "devices", len(devices), "version", version.Version)
		} else {
			blog.Info("edged restarting on the new configuration", "devices", len(devices))
		}
		if first {
			// Package inits and the compiled schemas touched code Run
			// never needs: give it back before the outbox's recovery and
			// the servers add their own, so start-up's peak is lower too.
			memtrim.Release()
		}
		go releaseStartupPages(ctx, box, blog)
		err = box.Run(ctx)
		switch {
		case errors.Is(err, edge.ErrReload) && ctx.Err() == nil:
			continue
		case err != nil && ctx.Err() == nil:
			blog.Error("edged stopped", "err", err)
			os.Exit(1)
		}
		return
	}
}

// releaseStartupPages gives back the executable's pages touched only while
// starting (package inits, schemas, rules, config): most of the binary is
// resident after start-up and counted in RSS, though the box's steady work
// uses a small part of it (internal/memtrim).
func releaseStartupPages(ctx context.Context, box *edge.Box, log *slog.Logger) {
	select {
	case <-ctx.Done():
		return
	case <-box.Started():
	}
	st, err := memtrim.Release()
	if err != nil {
		log.Debug("start-up pages not released", "err", err)
		return
	}
	log.Debug("start-up pages released", "rss_before_kib", st.Before>>10, "rss_after_kib", st.After>>10)
}
