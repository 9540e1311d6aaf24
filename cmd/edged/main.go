// Command edged runs on an edge box: it drives the devices wired to it and
// forwards their readings to the station hub.
//
//	edged -config /perm/kordon/edged.yaml
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/kordon/kordon/drivers/all"
	"github.com/kordon/kordon/edge"
	"github.com/kordon/kordon/internal/logging"
	"github.com/kordon/kordon/internal/version"
)

func main() {
	configPath := flag.String("config", "/perm/kordon/edged.yaml", "box configuration file")
	check := flag.Bool("check", false, "validate the configuration and exit")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version.Version)
		return
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
	log := logging.New(os.Stderr, slog.LevelInfo)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A reload-config command ends Run with ErrReload once the new file has
	// been validated; the box then starts again on it, in the same process,
	// so the outbox and sequence numbers carry straight on.
	for first := true; ; first = false {
		cfg, devices, err := edge.LoadConfig(*configPath, all.Drivers)
		if err != nil {
			fmt.Fprintln(os.Stderr, "edged: config:", err)
			os.Exit(2)
		}
		if *check {
			fmt.Printf("%s: ok (%d devices)\n", *configPath, len(devices))
			return
		}
		blog := log.With("box", cfg.Box)
		box, err := edge.New(cfg, devices, all.Drivers, blog)
		if err != nil {
			fmt.Fprintln(os.Stderr, "edged:", err)
			os.Exit(1)
		}
		if first {
			blog.Info("edged starting", "crossing", cfg.Crossing, "devices", len(devices), "version", version.Version)
		} else {
			blog.Info("edged restarting on the new configuration", "devices", len(devices))
		}
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
