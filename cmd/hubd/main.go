// Command hubd is the station hub of a crossing: MQTT broker for the edge
// boxes, storage, rules, alerts and the live page.
//
//	hubd -config hub.yaml
//	hubd passwd SECRET     print the bcrypt hash to put in the config
//	hubd watchlist ...     make a watchlist key, hash a plain CSV watchlist (hub/watchlist)
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/crypto/bcrypt"

	"github.com/kordon/kordon/hub"
	"github.com/kordon/kordon/hub/watchlist"
	"github.com/kordon/kordon/internal/logging"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "passwd" {
		h, err := bcrypt.GenerateFromPassword([]byte(os.Args[2]), bcrypt.DefaultCost)
		if err != nil {
			fmt.Fprintln(os.Stderr, "hubd:", err)
			os.Exit(1)
		}
		fmt.Println(string(h))
		return
	}
	if len(os.Args) >= 2 && os.Args[1] == "watchlist" {
		os.Exit(watchlist.Command(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	configPath := flag.String("config", "hub.yaml", "hub configuration file")
	flag.Parse()
	log := logging.New(os.Stderr, slog.LevelInfo)
	cfg, err := hub.LoadConfig(*configPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hubd: config:", err)
		os.Exit(2)
	}
	h, err := hub.New(cfg, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hubd:", err)
		os.Exit(1)
	}
	// Signals are caught before the listeners open: a SIGTERM as soon as
	// the hub answers still closes it cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := h.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "hubd:", err)
		os.Exit(1)
	}
	// SIGHUP re-reads the rules file now (it is also re-read when it changes).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			h.ReloadRules() // logs the outcome; a broken file leaves the old rules in force
		}
	}()
	<-ctx.Done()
	log.Info("hubd stopping")
	h.Close()
}
