// Package cli gives every Kordon command the same manners: -h and --help
// print the help on standard output and exit 0, a mistaken flag prints what
// is wrong and the usage on standard error and exits 2, and -version prints
// the build's version.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kordon/kordon/internal/version"
)

// New returns a flag set for the command name (e.g. "hubd passwd") whose
// help is help (usage lines, then what it does) followed by its flags. It
// has -version already.
func New(name, help string) *flag.FlagSet {
	fs := NewPlain(name, help)
	fs.Bool("version", false, "print the version and exit")
	return fs
}

// NewPlain is New without -version, for a command whose -version means
// something else (kordon-update release -version X).
func NewPlain(name, help string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // Parse prints, once, to the right stream
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprint(w, strings.TrimRight(help, "\n")+"\n")
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(w, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// Parse parses args into fs. When the command should stop now — help was
// asked for, a flag is wrong, or -version was given — it has printed what
// it must and returns the exit code with stop set.
func Parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, stop bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return 0, true
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n\n", fs.Name(), err)
		fs.SetOutput(stderr)
		fs.Usage()
		return 2, true
	}
	if v := fs.Lookup("version"); v != nil && v.Value.String() == "true" && v.DefValue == "false" {
		fmt.Fprintln(stdout, Version(fs.Name()))
		return 0, true
	}
	return 0, false
}

// MustParse is Parse for a main: it exits when the command should stop.
func MustParse(fs *flag.FlagSet, args []string) {
	if code, stop := Parse(fs, args, os.Stdout, os.Stderr); stop {
		os.Exit(code)
	}
}

// Usagef reports a usage mistake found after parsing (a missing argument)
// and the usage on stderr; the caller exits 2.
func Usagef(fs *flag.FlagSet, stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "%s: %s\n\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.SetOutput(stderr)
	fs.Usage()
	return 2
}

// IsHelp says whether arg asks for help.
func IsHelp(arg string) bool {
	return arg == "-h" || arg == "--help" || arg == "-help" || arg == "help"
}

// IsVersion says whether arg asks for the version.
func IsVersion(arg string) bool {
	return arg == "-version" || arg == "--version"
}

// Version is the line -version prints: the program name and its version.
func Version(name string) string {
	prog, _, _ := strings.Cut(name, " ")
	return prog + " " + version.Version
}
