// Command stubedged stands in for cmd/edged when building an image before
// edged exists (EDGED_PKG=github.com/kordon/kordon/firmware/stubedged): it
// reads the same config file, fails the same way when it is missing, and
// answers GET /healthz on the config's http: address.
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"regexp"
)

func main() {
	config := flag.String("config", "/perm/kordon/edged.yaml", "box config")
	flag.Parse()
	b, err := os.ReadFile(*config)
	if err != nil {
		log.Fatalf("stubedged: %v", err)
	}
	addr := ":8081"
	if m := regexp.MustCompile(`(?m)^http:\s*["']?([^"'\s#]+)`).FindSubmatch(b); m != nil {
		addr = string(m[1])
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok (stub)\n")) })
	log.Printf("stubedged: serving /healthz on %s", addr)
	log.Fatal(http.ListenAndServe(addr, nil))
}
