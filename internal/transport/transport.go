// Package transport opens the ports devices are wired to. Serial ports go
// through go.bug.st/serial; tests hand the same code a pseudo-terminal path.
package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"go.bug.st/serial"
)

// Config is a device's `transport:` section of a box config.
type Config struct {
	Type string `yaml:"type"` // serial | usb | gpio | folder | tcp

	// serial
	Path     string `yaml:"path"`      // /dev/ttyUSB0, /dev/serial/by-id/...
	Baud     int    `yaml:"baud"`      // default 9600
	DataBits int    `yaml:"data_bits"` // default 8
	Parity   string `yaml:"parity"`    // none | even | odd (default none)
	StopBits int    `yaml:"stop_bits"` // 1 or 2 (default 1)

	// usb
	Vendor  string `yaml:"vendor"`  // hex, e.g. 413d
	Product string `yaml:"product"` // hex, e.g. 2107

	// tcp
	Address string `yaml:"address"`
}

// Port is an open byte stream to a device. Read returns (0, nil) when the
// read timeout passes with no data, as go.bug.st/serial does.
type Port interface {
	io.ReadWriteCloser
	SetReadTimeout(time.Duration) error
}

// Validate checks the fields a transport type needs.
func (c Config) Validate() error {
	switch c.Type {
	case "serial":
		if c.Path == "" {
			return fmt.Errorf("serial transport needs path")
		}
		if _, err := c.serialMode(); err != nil {
			return err
		}
	case "usb":
		if c.Vendor == "" || c.Product == "" {
			return fmt.Errorf("usb transport needs vendor and product (hex ids)")
		}
	case "folder":
		if c.Path == "" {
			return fmt.Errorf("folder transport needs path")
		}
	case "tcp":
		if c.Address == "" {
			return fmt.Errorf("tcp transport needs address")
		}
	case "gpio":
	case "":
		return fmt.Errorf("transport type missing (serial, usb, gpio, folder or tcp)")
	default:
		return fmt.Errorf("unknown transport type %q (serial, usb, gpio, folder or tcp)", c.Type)
	}
	return nil
}

func (c Config) serialMode() (*serial.Mode, error) {
	m := &serial.Mode{BaudRate: 9600, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}
	if c.Baud != 0 {
		m.BaudRate = c.Baud
	}
	if c.DataBits != 0 {
		if c.DataBits < 5 || c.DataBits > 8 {
			return nil, fmt.Errorf("data_bits %d: want 5 to 8", c.DataBits)
		}
		m.DataBits = c.DataBits
	}
	switch strings.ToLower(c.Parity) {
	case "", "none", "n":
	case "even", "e":
		m.Parity = serial.EvenParity
	case "odd", "o":
		m.Parity = serial.OddParity
	default:
		return nil, fmt.Errorf("parity %q: want none, even or odd", c.Parity)
	}
	switch c.StopBits {
	case 0, 1:
	case 2:
		m.StopBits = serial.TwoStopBits
	default:
		return nil, fmt.Errorf("stop_bits %d: want 1 or 2", c.StopBits)
	}
	return m, nil
}

// OpenSerial opens a serial port (or a pseudo-terminal standing in for one).
func OpenSerial(c Config) (Port, error) {
	mode, err := c.serialMode()
	if err != nil {
		return nil, err
	}
	p, err := serial.Open(c.Path, mode)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", c.Path, err)
	}
	return p, nil
}

// Open opens the byte stream of a serial or tcp transport. A TCP connect
// gives up after 10 s or when ctx ends.
func Open(ctx context.Context, c Config) (Port, error) {
	switch c.Type {
	case "serial":
		return OpenSerial(c)
	case "tcp":
		var d net.Dialer
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		conn, err := d.DialContext(dctx, "tcp", c.Address)
		if err != nil {
			return nil, err
		}
		return &tcpPort{Conn: conn}, nil
	}
	return nil, fmt.Errorf("transport type %q is not a byte stream (serial or tcp)", c.Type)
}

// tcpPort gives a TCP connection the serial Port's read-timeout behaviour:
// a read that times out returns (0, nil).
type tcpPort struct {
	net.Conn
	timeout time.Duration
}

func (p *tcpPort) SetReadTimeout(d time.Duration) error { p.timeout = d; return nil }

func (p *tcpPort) Read(b []byte) (int, error) {
	if p.timeout > 0 {
		if err := p.Conn.SetReadDeadline(time.Now().Add(p.timeout)); err != nil {
			return 0, err
		}
	}
	n, err := p.Conn.Read(b)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return n, nil
	}
	return n, err
}

// StreamPort adapts a plain reader (standard input, a file) to a Port:
// reads block, writes are discarded, and the end of the stream ends the port.
type StreamPort struct{ R io.Reader }

func (s StreamPort) Read(b []byte) (int, error)         { return s.R.Read(b) }
func (s StreamPort) Write(b []byte) (int, error)        { return len(b), nil }
func (s StreamPort) Close() error                       { return nil }
func (s StreamPort) SetReadTimeout(time.Duration) error { return nil }
