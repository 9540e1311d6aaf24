// Package stateful is what PackageState must find (and accept).
package stateful

import (
	"embed"
	"errors"
	"regexp"
	"sync/atomic"
)

var ErrGone = errors.New("gone") // accepted: an error

var word = regexp.MustCompile(`^[a-z]+$`) // accepted: a pattern

//go:embed stateful.go
var src embed.FS // accepted: embedded

var kinds = map[string]bool{"a": true} // accepted: a table nothing changes

var Profiles = []string{"x"} // exported table

var hits atomic.Int64 // declared without a value

var registry = map[string]int{} // changed in register

var count = 0 // a variable where a constant would do, changed in bump

var cache = load() // initialised by a call

func load() map[string]string { return nil }

func register(name string) { registry[name] = len(registry) }

func bump() { count++ }

func reset() { delete(kinds, "a") } // a table changed after all

func shadow() int {
	count := 3 // a local: not the package's
	count++
	return count + int(hits.Load()) + len(word.String()) + len(ErrGone.Error()) + len(cache)
}
