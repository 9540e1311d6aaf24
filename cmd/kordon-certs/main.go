// Command kordon-certs issues the certificates of one crossing
// (docs/security.md): run it on an offline machine, keep ca.key there.
//
//	kordon-certs ca  -crossing kg-torugart -dir pki
//	kordon-certs hub -dir pki -names hub.local,10.0.0.2
//	kordon-certs box -dir pki -box booth1            (one per box)
//	kordon-certs link -dir pki -site kordai -names 127.0.0.1   (BLO network)
//
// Every command writes NAME.pem and NAME.key into -dir and never overwrites.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/kordon/kordon/cmd/kordon-certs/certs"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", "pki", "directory holding ca.pem/ca.key and the issued files")
	crossing := fs.String("crossing", "", "crossing id (ca)")
	box := fs.String("box", "", "box id: the certificate's Common Name (box)")
	names := fs.String("names", "", "comma-separated DNS names and IPs of the hub (hub, link)")
	site := fs.String("site", "", "site id on the BLO network: a crossing or the centre (link)")
	years := fs.Int("years", 0, "validity in years (default: ca 10, others 3)")
	fs.Parse(os.Args[2:])
	yrs := func(def int) int {
		if *years > 0 {
			return *years
		}
		return def
	}
	var err error
	switch os.Args[1] {
	case "ca":
		if *crossing == "" {
			fail("ca needs -crossing")
		}
		var ca *certs.Pair
		if ca, err = certs.NewCA(*crossing, yrs(10)); err == nil {
			err = ca.Write(*dir, "ca")
		}
	case "hub", "box", "link":
		ca, lerr := certs.Load(*dir, "ca")
		if lerr != nil {
			fail("load CA: " + lerr.Error())
		}
		var p *certs.Pair
		name := "hub"
		switch os.Args[1] {
		case "hub":
			p, err = certs.NewHub(ca, strings.Split(*names, ","), yrs(3))
		case "link":
			name = "link"
			p, err = certs.NewLink(ca, *site, strings.Split(*names, ","), yrs(3))
		default:
			name = *box
			p, err = certs.NewBox(ca, *box, yrs(3))
		}
		if err == nil {
			err = p.Write(*dir, name)
		}
	default:
		usage()
	}
	if err != nil {
		fail(err.Error())
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kordon-certs ca|hub|box|link [-dir pki] [-crossing ID] [-names host,ip] [-box ID] [-site ID] [-years N]")
	os.Exit(2)
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "kordon-certs:", msg)
	os.Exit(1)
}
