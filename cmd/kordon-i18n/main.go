// Command kordon-i18n is the translator's tool: for each language of the
// screens (i18n/*.json) it lists the keys missing from it (the screens show
// English there), the keys English does not have (typos, removed keys),
// and, for English, the keys no screen uses and the keys the screens use
// that English lacks. Each language is the shared file with every device
// family's words (drivers/<family>/words/<code>.json) merged in.
//
//	kordon-i18n [-root DIR] [-lang CODE] [-strict]
//
// Run it from the repository (or give -root). With -strict it exits 1 when
// a language that must be complete (en, ru, kk) misses a key, or when any
// file has a key English lacks, or English has an unused or undefined key.
//
// A translator adding a language copies i18n/en.json to i18n/<code>.json,
// sets "_name" to the language's own name, translates the values, and runs
// this until "missing" is empty.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kordon/kordon/i18n"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("kordon-i18n", flag.ContinueOnError)
	fl.SetOutput(stderr)
	root := fl.String("root", ".", "repository root (where hub/dash/web and edge/booth/web are)")
	lang := fl.String("lang", "", "report only this language")
	strict := fl.Bool("strict", false, "exit 1 if a complete language misses a key or any key is unknown, unused or undefined")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: kordon-i18n [-root DIR] [-lang CODE] [-strict]\n\nLists missing and unused translation keys per language.")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "kordon-i18n: unexpected argument %q\n", fl.Arg(0))
		fl.Usage()
		return 2
	}
	if err := i18n.Err(); err != nil {
		fmt.Fprintln(stderr, "kordon-i18n:", err)
		return 1
	}
	dirs := i18n.SourceDirs()
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(*root, d)); err != nil {
			fmt.Fprintf(stderr, "kordon-i18n: %s: no screens there (run from the repository, or give -root)\n", filepath.Join(*root, d))
			return 2
		}
	}
	u, err := i18n.ScanSources(os.DirFS(*root), dirs...)
	if err != nil {
		fmt.Fprintln(stderr, "kordon-i18n:", err)
		return 1
	}
	failed := false
	found := *lang == ""
	for _, r := range i18n.Check(u) {
		if *lang != "" && r.Lang != *lang {
			continue
		}
		found = true
		complete := slices.Contains(i18n.Complete(), r.Lang)
		fmt.Fprintf(stdout, "%s: %d missing, %d unknown", r.Lang, len(r.Missing), len(r.Unknown))
		if r.Lang == i18n.Fallback {
			fmt.Fprintf(stdout, ", %d unused, %d undefined", len(r.Unused), len(r.Undefined))
		}
		if complete {
			fmt.Fprint(stdout, " (must be complete)")
		}
		fmt.Fprintln(stdout)
		list(stdout, "missing (English is shown)", r.Missing)
		list(stdout, "unknown (not in en.json: never shown)", r.Unknown)
		list(stdout, "unused (no screen uses it)", r.Unused)
		list(stdout, "undefined (a screen uses it; en.json lacks it)", r.Undefined)
		if complete && len(r.Missing) > 0 || len(r.Unknown)+len(r.Unused)+len(r.Undefined) > 0 {
			failed = true
		}
	}
	if !found {
		fmt.Fprintf(stderr, "kordon-i18n: no language %q (have %s)\n", *lang, codes())
		return 2
	}
	if *strict && failed {
		return 1
	}
	return 0
}

func list(w io.Writer, what string, keys []string) {
	if len(keys) == 0 {
		return
	}
	fmt.Fprintf(w, "  %s:\n", what)
	for _, k := range keys {
		fmt.Fprintf(w, "    %s\n", k)
	}
}

func codes() string {
	var out []string
	for _, l := range i18n.Languages() {
		out = append(out, l.Code)
	}
	return strings.Join(out, ", ")
}
