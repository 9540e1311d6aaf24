// Command edged runs on an edge box: it drives the devices wired to it and
// forwards their readings to the station hub.
//
//	edged -config /perm/kordon/edged.yaml
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
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
	log := logging.New(os.Stderr, slog.LevelInfo)
	cfg, devices, err := edge.LoadConfig(*configPath, all.Drivers)
	if err != nil {
		fmt.Fprintln(os.Stderr, "edged: config:", err)
		os.Exit(2)
	}
	if *check {
		fmt.Printf("%s: ok (%d devices)\n", *configPath, len(devices))
		return
	}
	log = log.With("box", cfg.Box)
	box, err := edge.New(cfg, devices, all.Drivers, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "edged:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("edged starting", "crossing", cfg.Crossing, "devices", len(devices), "version", version.Version)
	if err := box.Run(ctx); err != nil {
		log.Error("edged stopped", "err", err)
		os.Exit(1)
	}
}
