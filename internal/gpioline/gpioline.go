// Package gpioline is Kordon's seam to GPIO lines: on a box, periph.io
// (host drivers + gpioreg) finds lines by name; in tests and replays,
// gpiolinetest hands out periph.io's gpiotest pins instead, because build
// and test machines have no GPIO chips.
//
// Drivers receive an Opener through device.Config.OpenPin and never import
// the host drivers themselves.
package gpioline

import (
	"fmt"
	"sync"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"
)

// Opener opens a GPIO line by the name periph.io knows it under
// (e.g. "GPIO17", or a gpiochip line name).
type Opener func(name string) (gpio.PinIO, error)

var (
	initOnce sync.Once
	initErr  error
)

// Open opens a real GPIO line through periph.io. The host drivers are
// loaded once, on first use, so a box without GPIO devices pays nothing.
func Open(name string) (gpio.PinIO, error) {
	initOnce.Do(func() { _, initErr = host.Init() })
	if initErr != nil {
		return nil, fmt.Errorf("gpio: periph.io host init: %w", initErr)
	}
	p := gpioreg.ByName(name)
	if p == nil {
		return nil, fmt.Errorf("gpio: no line named %q (%d lines found on this machine)", name, len(gpioreg.All()))
	}
	return p, nil
}

// ParseLevel reads an "active" option: "high" or "low".
func ParseLevel(s string) (gpio.Level, error) {
	switch s {
	case "high":
		return gpio.High, nil
	case "low":
		return gpio.Low, nil
	}
	return gpio.Low, fmt.Errorf("must be high or low (got %q)", s)
}

// ParsePull reads a "pull" option: up, down, none (floating) or keep (as
// the board's firmware set it).
func ParsePull(s string) (gpio.Pull, error) {
	switch s {
	case "up":
		return gpio.PullUp, nil
	case "down":
		return gpio.PullDown, nil
	case "none":
		return gpio.Float, nil
	case "keep":
		return gpio.PullNoChange, nil
	}
	return gpio.PullNoChange, fmt.Errorf("must be up, down, none or keep (got %q)", s)
}
