//go:build !linux

package memtrim

import "errors"

// Release is Linux only.
func Release() (Stats, error) { return Stats{}, errors.New("memtrim: not supported on this system") }
