// Command hubd is the station hub of a crossing: MQTT broker for the edge
// boxes, storage, rules, alerts and the dashboards.
//
//	hubd -config hub.yaml          run the hub
//	hubd -check -config hub.yaml   check the configuration and exit
//	hubd passwd                    read a secret (prompt or stdin), print its bcrypt hash
//	hubd watchlist ...             make a watchlist key, hash a plain CSV watchlist (hub/watchlist)
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"

	"github.com/kordon/kordon/hub"
	"github.com/kordon/kordon/hub/watchlist"
	"github.com/kordon/kordon/internal/cli"
	"github.com/kordon/kordon/internal/config"
	"github.com/kordon/kordon/internal/logging"
)

const help = `usage:
  hubd [-config hub.yaml] [-log-level info]   run the hub
  hubd -check [-config hub.yaml]              check the configuration, list every mistake, exit
  hubd passwd                                 read a secret, print its bcrypt hash for the config
  hubd watchlist key|hash|check ...           prepare the hashed watchlist (hubd watchlist -h)
  hubd -version                               print the version

hubd is the station hub of a crossing: the MQTT broker the edge boxes connect
to, the database of every reading, the rules that raise alerts, and the BLO
dashboard. It refuses to start on any configuration mistake (docs/hubd.md).`

const passwdHelp = `usage:
  hubd passwd < secret-file
  hubd passwd                 (at a terminal: asks twice, without echo)

Reads a secret — a box's, an observer's or a dashboard user's password — and
prints its bcrypt hash, to paste as password_hash in hub.yaml. The secret is
never taken from the command line, where other users and the shell history
would see it. From a pipe or file, the first line is the secret.`

func main() {
	if len(os.Args) >= 2 {
		switch os.Args[1] {
		case "passwd":
			os.Exit(passwd(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
		case "watchlist":
			os.Exit(watchlist.Command(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
		case "help":
			fmt.Println(help)
			return
		}
		if a := os.Args[1]; a != "" && !strings.HasPrefix(a, "-") {
			fmt.Fprintf(os.Stderr, "hubd: unknown command %q\n\n%s\n", a, help)
			os.Exit(2)
		}
	}
	fs := cli.New("hubd", help)
	configPath := fs.String("config", "hub.yaml", "hub configuration file")
	check := fs.Bool("check", false, "check the configuration, list every mistake, and exit")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (default: the config's log_level, else info)")
	pprofAddr := fs.String("pprof", "", "serve Go's profiles (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060 (default: off)")
	cli.MustParse(fs, os.Args[1:])
	if fs.NArg() > 0 {
		os.Exit(cli.Usagef(fs, os.Stderr, "unexpected argument %q", fs.Arg(0)))
	}
	cfg, err := hub.LoadConfig(*configPath)
	if err != nil {
		config.Report(os.Stderr, "hubd", err, "hubd does not start")
		os.Exit(2)
	}
	if *check {
		fmt.Printf("%s: ok (%d boxes, %d observers, %d users)\n", *configPath, len(cfg.Boxes), len(cfg.Observers), len(cfg.Users))
		return
	}
	level, err := logging.ParseLevel(*logLevel)
	if *logLevel == "" {
		level, err = logging.ParseLevel(cfg.LogLevel)
	}
	if err != nil {
		os.Exit(cli.Usagef(fs, os.Stderr, "-log-level: %v", err))
	}
	log := logging.New(os.Stderr, level)
	if *pprofAddr != "" {
		if err := servePprof(*pprofAddr); err != nil {
			os.Exit(cli.Usagef(fs, os.Stderr, "-pprof: %v", err))
		}
		log.Info("profiles served", "addr", *pprofAddr)
	}
	tuneGC(os.Getenv)
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
	select {
	case <-ctx.Done():
		log.Info("hubd stopping")
		h.Close()
	case err := <-h.Failed():
		h.Close()
		fmt.Fprintln(os.Stderr, "hubd:", err)
		os.Exit(1)
	}
}

// The hub's heap is mostly readings passing through: parsed, waiting for
// their commit, acknowledged. At Go's default (GOGC=100) the collector
// took about a tenth of the hub's CPU at a station's full load, and a
// station's hub has memory to spare: it collects when the heap has grown
// to five times what is live, and more often only as the heap nears
// gcMemoryLimit. GOGC and GOMEMLIMIT in the environment decide instead.
const (
	gcPercent     = 400
	gcMemoryLimit = 1 << 30
)

// tuneGC sets the collector's pace where the environment (getenv) does not.
func tuneGC(getenv func(string) string) {
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(gcMemoryLimit)
	}
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

// servePprof serves net/http/pprof's handlers on a mux of their own, on
// loopback only: profiles are unauthenticated, and a goroutine dump or heap
// profile can show what the hub is handling.
func servePprof(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s is not a loopback address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go http.Serve(ln, mux)
	return nil
}

// passwd prints the bcrypt hash of a secret read from a terminal prompt or
// from stdin. It returns the exit status.
func passwd(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	fs := cli.New("hubd passwd", passwdHelp)
	if code, stop := cli.Parse(fs, args, stdout, stderr); stop {
		return code
	}
	if fs.NArg() > 0 {
		return cli.Usagef(fs, stderr, "the secret is read from standard input, not the command line (it would show in ps and the shell history)")
	}
	secret, err := readSecret(stdin, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "hubd passwd:", err)
		return 1
	}
	if len(secret) > 72 {
		fmt.Fprintln(stderr, "hubd passwd: the secret is longer than bcrypt's 72 bytes")
		return 1
	}
	h, err := bcrypt.GenerateFromPassword(secret, bcrypt.DefaultCost)
	if err != nil {
		fmt.Fprintln(stderr, "hubd passwd:", err)
		return 1
	}
	fmt.Fprintln(stdout, string(h))
	return 0
}

func readSecret(in *os.File, prompt io.Writer) ([]byte, error) {
	if fd := int(in.Fd()); term.IsTerminal(fd) {
		fmt.Fprint(prompt, "secret: ")
		a, err := term.ReadPassword(fd)
		fmt.Fprintln(prompt)
		if err != nil {
			return nil, err
		}
		fmt.Fprint(prompt, "again: ")
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(prompt)
		if err != nil {
			return nil, err
		}
		if string(a) != string(b) {
			return nil, errors.New("the two secrets differ")
		}
		if len(a) == 0 {
			return nil, errors.New("empty secret")
		}
		return a, nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return nil, errors.New("no secret on standard input (write it as the first line)")
	}
	return []byte(line), nil
}
