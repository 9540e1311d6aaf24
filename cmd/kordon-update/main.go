// Command kordon-update is Kordon's signed over-the-air update tool.
//
// On the box (started by gokrazy):
//
//	kordon-update agent          poll, verify, install, health-check, commit or roll back
//
// For release managers:
//
//	kordon-update keygen -out release            writes release.key (secret) and release.pub
//	kordon-update release -key release.key -target vm -version 1.4.0 -root root.squashfs -out DIR
//	kordon-update verify -pub release.pub DIR/manifest.json
//
// A release directory (manifest.json plus the root image) is served over
// plain HTTP by anything (the hub, a laptop): trust comes from the ed25519
// signature and the hashes, not from the transport.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/kordon/kordon/internal/atomicfile"
	"github.com/kordon/kordon/internal/cli"
)

const help = `usage: kordon-update COMMAND [flags]

commands:
  agent     run on the box: pull, verify and install signed releases
  keygen    make an ed25519 release key pair
  release   sign a root image into a release directory (manifest.json + image)
  verify    check a release directory against a public key

kordon-update COMMAND -h lists a command's flags; kordon-update -version prints the version.`

func main() {
	log.SetFlags(0)
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, help)
		os.Exit(2)
	}
	var err error
	switch cmd := os.Args[1]; {
	case cli.IsHelp(cmd):
		fmt.Println(help)
		return
	case cli.IsVersion(cmd):
		fmt.Println(cli.Version("kordon-update"))
		return
	case cmd == "agent":
		err = cmdAgent(os.Args[2:])
	case cmd == "keygen":
		err = cmdKeygen(os.Args[2:])
	case cmd == "release", cmd == "sign":
		err = cmdRelease(os.Args[2:])
	case cmd == "verify":
		err = cmdVerify(os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "kordon-update: unknown command %q\n\n%s\n", cmd, help)
		os.Exit(2)
	}
	var stop stopError
	if errors.As(err, &stop) {
		os.Exit(int(stop))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kordon-update %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// stopError ends a command with an exit code, its message already printed.
type stopError int

func (e stopError) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func parse(fs *flag.FlagSet, args []string) error {
	if code, stop := cli.Parse(fs, args, os.Stdout, os.Stderr); stop {
		return stopError(code)
	}
	return nil
}

func cmdKeygen(args []string) error {
	fs := cli.New("kordon-update keygen", "usage: kordon-update keygen [-out release]\n\nMakes an ed25519 release key pair: OUT.key (secret: keep it offline) and OUT.pub (baked into images as the trusted key).")
	out := fs.String("out", "release", "write OUT.key (secret, 0600) and OUT.pub")
	if err := parse(fs, args); err != nil {
		return err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if _, err := os.Stat(*out + ".key"); err == nil {
		return fmt.Errorf("%s.key exists: refusing to overwrite a release key", *out)
	}
	if err := os.WriteFile(*out+".key", []byte(base64.StdEncoding.EncodeToString(priv.Seed())+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(*out+".pub", []byte(base64.StdEncoding.EncodeToString(pub)+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s.key (keep it offline) and %s.pub (key id %s)\n", *out, *out, KeyID(pub))
	return nil
}

func cmdRelease(args []string) error {
	fs := cli.NewPlain("kordon-update release", `usage: kordon-update release -key release.key -target vm|rpi -version X -root root.squashfs -out DIR

Signs a firmware root into a release directory (manifest.json and the root).
The root must have been built as version X (its /etc/kordon/version): a box
checks which version it booted, and marks a release whose root says otherwise
bad for good.`)
	keyPath := fs.String("key", "", "ed25519 private key (base64)")
	target := fs.String("target", "", "image target: vm or rpi")
	version := fs.String("version", "", "release version (must be newer than what boxes run)")
	root := fs.String("root", "", "root file system image (gok overwrite --root)")
	out := fs.String("out", "", "release directory to write")
	notes := fs.String("notes", "", "release notes (one line)")
	unchecked := fs.Bool("unchecked-version", false, "sign even when the root was built as another version (fault tests only: boxes mark such a release bad)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *keyPath == "" || *target == "" || *version == "" || *root == "" || *out == "" {
		return stopError(cli.Usagef(fs, os.Stderr, "need -key, -target, -version, -root and -out"))
	}
	baked, err := bakedVersion(*root)
	switch {
	case err != nil && !*unchecked:
		return fmt.Errorf("cannot read the version baked into the root (/etc/kordon/version): %v; nothing was written", err)
	case err == nil && baked != *version && !*unchecked:
		return fmt.Errorf("%s was built as version %s, not %s: a box would boot %s and mark release %s bad; rebuild the image with FW_VERSION=%s (nothing was written)",
			*root, baked, *version, baked, *version, *version)
	case err == nil && baked != *version:
		fmt.Fprintf(os.Stderr, "kordon-update release: WARNING (-unchecked-version): %s was built as %s, signed as %s\n", *root, baked, *version)
	}
	priv, err := readPrivateKey(*keyPath)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	name := "root-" + *version + ".squashfs"
	size, sum, err := copyHashed(*root, filepath.Join(*out, name))
	if err != nil {
		return err
	}
	m := &Manifest{Format: 1, Target: *target, Version: *version, Created: time.Now().UTC().Truncate(time.Second),
		Files: map[string]File{"root": {Path: name, Size: size, SHA256: sum}}, Notes: *notes}
	signed, err := SignManifest(m, priv)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(*out, "manifest.json"), signed, 0o644); err != nil {
		return err
	}
	fmt.Printf("release %s for %s: %s (%d bytes, sha256 %s), signed by key %s\n",
		*version, *target, name, size, sum[:16], KeyID(priv.Public().(ed25519.PublicKey)))
	return nil
}

func copyHashed(src, dst string) (int64, string, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, "", err
	}
	defer in.Close()
	out, err := os.Create(dst + ".tmp")
	if err != nil {
		return 0, "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(dst+".tmp", dst)
	}
	return n, hex.EncodeToString(h.Sum(nil)), err
}

func cmdVerify(args []string) error {
	fs := cli.New("kordon-update verify", "usage: kordon-update verify -pub KEYS DIR/manifest.json\n\nChecks a release directory as a box would: the manifest's signature against the trusted keys, and every file's size and hash.")
	pubPath := fs.String("pub", "", "trusted public key file(s), base64, one per line")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *pubPath == "" || fs.NArg() != 1 {
		return stopError(cli.Usagef(fs, os.Stderr, "need -pub and one manifest.json"))
	}
	keys, err := readPublicKeys(*pubPath)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	m, err := VerifyManifest(raw, keys)
	if err != nil {
		return err
	}
	dir := filepath.Dir(fs.Arg(0))
	for name, f := range m.Files {
		in, err := os.Open(filepath.Join(dir, f.Path))
		if err != nil {
			return err
		}
		h := sha256.New()
		n, err := io.Copy(h, in)
		in.Close()
		if err != nil {
			return err
		}
		if n != f.Size || hex.EncodeToString(h.Sum(nil)) != f.SHA256 {
			return fmt.Errorf("file %s (%s) does not match the manifest", name, f.Path)
		}
	}
	fmt.Printf("ok: release %s for %s, %d file(s) verified\n", m.Version, m.Target, len(m.Files))
	return nil
}

// Identity is the part of /perm/kordon/identity.json (written by
// kordon-install) the agent reads.
type Identity struct {
	UpdateURL      string `json:"update_url"`
	UpdateInterval string `json:"update_interval"`
	HealthTimeout  string `json:"health_timeout"` // how long a new release gets to become healthy
}

var httpLineRe = regexp.MustCompile(`(?m)^http:\s*["']?([^"'\s#]+)`)

// healthURLFromConfig derives edged's health URL from its YAML config's
// top-level http: key (":8081" -> http://127.0.0.1:8081/healthz).
func healthURLFromConfig(path string) string {
	addr := ":8081"
	if b, err := os.ReadFile(path); err == nil {
		if m := httpLineRe.FindSubmatch(b); m != nil {
			addr = string(m[1])
		}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://127.0.0.1:8081/healthz"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz"
}

func readLine(path, def string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return def
	}
	return strings.TrimSpace(string(b))
}

func cmdAgent(args []string) error {
	fs := cli.New("kordon-update agent", "usage: kordon-update agent [flags]\n\nRuns on the box (started by gokrazy): polls for signed releases, verifies, installs, health-checks edged, then commits or rolls back.")
	etc := fs.String("etc", "/etc/kordon", "directory with version, target and update.pub (baked into the image)")
	perm := fs.String("perm", "/perm/kordon", "box data directory (identity.json, edged.yaml, update/ state)")
	updateURL := fs.String("url", "", "release directory URL (default: update_url from identity.json)")
	interval := fs.Duration("interval", 0, "poll interval (default: update_interval from identity.json, else 1h)")
	health := fs.String("health", "", "edged health URL (default: from edged.yaml http:, else :8081)")
	healthTimeout := fs.Duration("health_timeout", 3*time.Minute, "time a new release gets to become healthy")
	gokrazySock := fs.String("gokrazy", "unix:///run/gokrazy-http.sock", "gokrazy's local HTTP API (unix:///path or http://host:port)")
	listen := fs.String("listen", ":8082", "status page (read-only JSON); empty to disable")
	if err := parse(fs, args); err != nil {
		return err
	}

	logger := log.New(os.Stderr, "", log.LstdFlags)
	keys, err := readPublicKeys(filepath.Join(*etc, "update.pub"))
	if err != nil {
		return fmt.Errorf("no trusted release key, refusing to run: %v", err)
	}
	var id Identity
	if b, err := os.ReadFile(filepath.Join(*perm, "identity.json")); err == nil {
		if err := json.Unmarshal(b, &id); err != nil {
			logger.Printf("identity.json: %v", err)
		}
	} else {
		logger.Printf("box not provisioned (%v): not polling for updates", err)
	}
	if *updateURL == "" {
		*updateURL = id.UpdateURL
	}
	if *interval == 0 {
		*interval = time.Hour
		if d, err := time.ParseDuration(id.UpdateInterval); err == nil && d > 0 {
			*interval = d
		}
	}
	if d, err := time.ParseDuration(id.HealthTimeout); err == nil && d > 0 {
		*healthTimeout = d
	}
	if *health == "" {
		*health = healthURLFromConfig(filepath.Join(*perm, "edged.yaml"))
	}
	a := &Agent{
		Version:       readLine(filepath.Join(*etc, "version"), "dev"),
		Target:        readLine(filepath.Join(*etc, "target"), ""),
		Keys:          keys,
		StateDir:      filepath.Join(*perm, "update"),
		UpdateURL:     *updateURL,
		Interval:      *interval,
		HealthURL:     *health,
		HealthTimeout: *healthTimeout,
		MaxBoots:      3,
		Gokrazy:       newGokrazyClient(*gokrazySock),
		Download:      &http.Client{Timeout: 30 * time.Minute},
		Log:           logger,
	}
	logger.Printf("kordon-update: running %s (target %s), trusting key(s) %s, releases from %q every %v",
		a.Version, a.Target, keyIDs(keys), a.UpdateURL, a.Interval)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *listen != "" {
		go serveStatus(*listen, a, *gokrazySock, filepath.Join(*perm, "debug"), logger)
	}
	return a.Run(ctx)
}

func keyIDs(keys []ed25519.PublicKey) string {
	var s []string
	for _, k := range keys {
		s = append(s, KeyID(k))
	}
	return strings.Join(s, ",")
}

func serveStatus(addr string, a *Agent, gokrazySock, debugFlag string, logger *log.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(struct {
			Version string `json:"version"`
			Target  string `json:"target"`
			State
		}{a.Version, a.Target, a.Snapshot()})
	})
	// Read-only view of gokrazy's pages (service logs) for test rigs, only
	// when the installer provisioned the box with --debug.
	mux.HandleFunc("GET /gokrazy/", func(w http.ResponseWriter, r *http.Request) {
		if _, err := os.Stat(debugFlag); err != nil {
			http.Error(w, "debug view not enabled on this box", http.StatusForbidden)
			return
		}
		c := newGokrazyClient(gokrazySock)
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, c.base+strings.TrimPrefix(r.URL.RequestURI(), "/gokrazy"), nil)
		resp, err := c.hc.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})
	if err := http.ListenAndServe(addr, mux); err != nil {
		logger.Printf("status page: %v", err)
	}
}

// gokrazyClient talks to gokrazy's update API, by default over its unix
// socket (no password: the box accepts updates only through this agent).
type gokrazyClient struct {
	hc   *http.Client
	base string
}

func newGokrazyClient(addr string) *gokrazyClient {
	if sock, ok := strings.CutPrefix(addr, "unix://"); ok {
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}
		return &gokrazyClient{hc: &http.Client{Transport: tr}, base: "http://gokrazy"}
	}
	return &gokrazyClient{hc: http.DefaultClient, base: strings.TrimSuffix(addr, "/")}
}

func (c *gokrazyClient) do(ctx context.Context, method, path string, body io.Reader, hdr map[string]string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return "", err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

func (c *gokrazyClient) PutRoot(ctx context.Context, r io.Reader) (string, error) {
	return c.do(ctx, http.MethodPut, "/update/root", r, map[string]string{"X-Gokrazy-Update-Hash": "sha256"})
}

func (c *gokrazyClient) Switch(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodPost, "/update/switch", nil, nil)
	return err
}

func (c *gokrazyClient) Reboot(ctx context.Context) error {
	// async: gokrazy stops all services (us included) before rebooting.
	_, err := c.do(ctx, http.MethodPost, "/reboot?async=true&wait_per_signal=10s", nil, nil)
	return err
}
