package watchlist

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
)

// Command is `hubd watchlist ...`, the operator's tools:
//
//	hubd watchlist key > watchlist.key                  a new random key (hex)
//	hubd watchlist hash -key watchlist.key < plain.csv > watchlist.txt
//	hubd watchlist check -key watchlist.key watchlist.txt
//
// hash turns a CSV of document number, issuing state into the hashed form
// the hub loads; run it where the plaintext lives, copy only the output
// (and the key, once) to the hub. It returns the exit status.
func Command(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	const help = `usage:
  hubd watchlist key                          print a new random key (hex) for watchlist.key_file
  hubd watchlist hash -key KEYFILE < CSV      print the hashed watchlist of a CSV (number,state)
  hubd watchlist check -key KEYFILE FILE      load a watchlist as the hub would and count its entries
`
	usage := func() int {
		fmt.Fprint(stderr, help)
		return 2
	}
	if len(args) == 0 {
		return usage()
	}
	if a := args[0]; a == "-h" || a == "--help" || a == "-help" || a == "help" {
		fmt.Fprint(stdout, help)
		return 0
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "hubd watchlist:", err)
		return 1
	}
	switch args[0] {
	case "key":
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return fail(err)
		}
		fmt.Fprintln(stdout, hex.EncodeToString(k))
		return 0
	case "hash", "check":
		fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
		fs.SetOutput(stderr)
		keyFile := fs.String("key", "", "key file (hex), the hub's watchlist.key_file")
		if err := fs.Parse(args[1:]); err != nil || *keyFile == "" {
			return usage()
		}
		key, err := LoadKey(*keyFile)
		if err != nil {
			return fail(err)
		}
		if args[0] == "hash" {
			if fs.NArg() != 0 {
				return usage()
			}
			n, err := HashFile(key, stdin, stdout)
			if err != nil {
				return fail(err)
			}
			fmt.Fprintf(stderr, "hubd watchlist: %d entries hashed with key id %s\n", n, KeyID(key))
			return 0
		}
		if fs.NArg() != 1 {
			return usage()
		}
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		set, plain, err := Parse(key, f)
		if err != nil {
			return fail(err)
		}
		form := "hashed"
		if plain {
			form = "plaintext (convert it with hubd watchlist hash)"
		}
		fmt.Fprintf(stdout, "%d entries, %s, key id %s\n", len(set), form, KeyID(key))
		return 0
	}
	return usage()
}
