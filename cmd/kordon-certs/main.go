// Command kordon-certs issues the certificates of one crossing
// (docs/security.md): run it on an offline machine, keep ca.key there.
//
//	kordon-certs ca  -crossing kg-torugart -dir pki
//	kordon-certs hub -dir pki -names hub.local,10.0.0.2
//	kordon-certs box -dir pki -box booth1            (one per box)
//
// Every command writes NAME.pem and NAME.key into -dir and never overwrites.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/kordon/kordon/cmd/kordon-certs/certs"
	"github.com/kordon/kordon/internal/cli"
	"github.com/kordon/kordon/internal/config"
)

const help = `usage:
  kordon-certs ca  -crossing ID [-dir pki] [-years 10]       make the crossing's CA (ca.pem, ca.key)
  kordon-certs hub -names HOST,IP,... [-dir pki] [-years 3]  issue the hub's server certificate (hub.pem, hub.key)
  kordon-certs box -box ID [-dir pki] [-years 3]             issue one box's client certificate (ID.pem, ID.key)
  kordon-certs link -site ID [-names HOST,IP] [-dir pki] [-years 3]
                                                             issue the site's BLO-network link certificate (link.pem, link.key)
  kordon-certs -version

Issues the certificates of one crossing for mutual TLS (docs/security.md).
Run it on an offline machine and keep ca.key there. No file is ever
overwritten. kordon-certs COMMAND -h shows a command's flags.`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, help)
		return 2
	}
	switch {
	case cli.IsHelp(args[0]):
		fmt.Fprintln(stdout, help)
		return 0
	case cli.IsVersion(args[0]):
		fmt.Fprintln(stdout, cli.Version("kordon-certs"))
		return 0
	}
	var fs *flag.FlagSet
	dir := func() *string { return fs.String("dir", "pki", "directory holding ca.pem/ca.key and the issued files") }
	years := func(def int) *int { return fs.Int("years", def, "validity in years") }
	var issue func() (name string, p *certs.Pair, err error)
	switch args[0] {
	case "ca":
		fs = cli.New("kordon-certs ca", "usage: kordon-certs ca -crossing ID [-dir pki] [-years 10]\n\nMakes the crossing's certificate authority: ca.pem (give it to the hub and every box) and ca.key (keep it offline).")
		d, y := dir(), years(10)
		crossing := fs.String("crossing", "", "crossing id, e.g. kg-torugart (required)")
		issue = func() (string, *certs.Pair, error) {
			if !config.IsID(*crossing) {
				return "", nil, fmt.Errorf("-crossing %q: want a crossing id (lower-case letters, digits, - or _)", *crossing)
			}
			p, err := certs.NewCA(*crossing, *y)
			return filepath.Join(*d, "ca"), p, err
		}
	case "hub":
		fs = cli.New("kordon-certs hub", "usage: kordon-certs hub -names HOST,IP,... [-dir pki] [-years 3]\n\nIssues the hub's server certificate (hub.pem, hub.key) from the CA in -dir, for the names and addresses boxes use to reach it.")
		d, y := dir(), years(3)
		names := fs.String("names", "", "comma-separated DNS names and IPs of the hub (required)")
		issue = func() (string, *certs.Pair, error) {
			ca, err := certs.Load(*d, "ca")
			if err != nil {
				return "", nil, fmt.Errorf("load the CA (run kordon-certs ca first): %w", err)
			}
			p, err := certs.NewHub(ca, strings.Split(*names, ","), *y)
			return filepath.Join(*d, "hub"), p, err
		}
	case "link":
		fs = cli.New("kordon-certs link", "usage: kordon-certs link -site ID [-names HOST,IP,...] [-dir pki] [-years 3]\n\nIssues the certificate (link.pem, link.key) this site presents on the BLO network — to the sister BLO and the coordination centre — from the CA in -dir; its Common Name is the site id (docs/blo-network.md).")
		d, y := dir(), years(3)
		site := fs.String("site", "", "site id on the BLO network: a crossing or the centre (required)")
		names := fs.String("names", "", "comma-separated DNS names and IPs the site is reached at, if it accepts links")
		issue = func() (string, *certs.Pair, error) {
			if !config.IsID(*site) {
				return "", nil, fmt.Errorf("-site %q: want a site id (lower-case letters, digits, - or _)", *site)
			}
			ca, err := certs.Load(*d, "ca")
			if err != nil {
				return "", nil, fmt.Errorf("load the CA (run kordon-certs ca first): %w", err)
			}
			var hosts []string
			if *names != "" {
				hosts = strings.Split(*names, ",")
			}
			p, err := certs.NewLink(ca, *site, hosts, *y)
			return filepath.Join(*d, "link"), p, err
		}
	case "box":
		fs = cli.New("kordon-certs box", "usage: kordon-certs box -box ID [-dir pki] [-years 3]\n\nIssues one box's client certificate (ID.pem, ID.key) from the CA in -dir; its Common Name is the box id, which is the box's identity at the hub.")
		d, y := dir(), years(3)
		box := fs.String("box", "", "box id, e.g. booth-01 (required)")
		issue = func() (string, *certs.Pair, error) {
			if !config.IsID(*box) {
				return "", nil, fmt.Errorf("-box %q: want a box id (lower-case letters, digits, - or _; no / + #)", *box)
			}
			ca, err := certs.Load(*d, "ca")
			if err != nil {
				return "", nil, fmt.Errorf("load the CA (run kordon-certs ca first): %w", err)
			}
			p, err := certs.NewBox(ca, *box, *y)
			return filepath.Join(*d, *box), p, err
		}
	default:
		fmt.Fprintf(stderr, "kordon-certs: unknown command %q\n\n%s\n", args[0], help)
		return 2
	}
	if code, stop := cli.Parse(fs, args[1:], stdout, stderr); stop {
		return code
	}
	if fs.NArg() > 0 {
		return cli.Usagef(fs, stderr, "unexpected argument %q", fs.Arg(0))
	}
	if y := fs.Lookup("years").Value.String(); y == "0" || strings.HasPrefix(y, "-") {
		return cli.Usagef(fs, stderr, "-years must be at least 1")
	}
	base, p, err := issue()
	if err == nil {
		err = p.Write(filepath.Dir(base), filepath.Base(base))
	}
	if err != nil {
		fmt.Fprintln(stderr, "kordon-certs:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s.pem (certificate, valid until %s)\nwrote %s.key (private key, mode 0600)\n",
		base, p.Cert.NotAfter.Format("2006-01-02"), base)
	return 0
}
