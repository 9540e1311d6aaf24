// Package replay plays recorded traces into the real driver code: serial
// traces through a pseudo-terminal, so the driver opens it with
// go.bug.st/serial exactly as it opens a real port.
package replay

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// PTY is a pseudo-terminal pair: the replayer writes the device's side
// (Device), the driver opens Path as its serial port.
type PTY struct {
	Device *os.File // the master: what a device would send goes in here
	Path   string   // the slave path the driver opens (or the link to it)
	slave  *os.File // held open so the pair survives the driver closing and reopening
	link   string
}

// OpenPTY creates a raw pseudo-terminal pair. If link is not empty, a
// symbolic link at that path points to the slave, as /dev/serial/by-id does.
func OpenPTY(link string) (*PTY, error) {
	ptmx, slave, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("open pty: %w", err)
	}
	// pty.Open leaves the master in blocking mode (it takes its Fd), and a
	// blocked Read then holds the file open past Close, so an unplug would
	// never reach the host. A non-blocking duplicate goes through Go's
	// poller: Close wakes readers and really closes the line.
	master, err := pollable(ptmx)
	if err != nil {
		slave.Close()
		return nil, err
	}
	// Raw mode at once: bytes written before the driver opens the port must
	// not be echoed back or have CR turned into LF by the line discipline.
	if err := makeRaw(slave); err != nil {
		master.Close()
		slave.Close()
		return nil, err
	}
	p := &PTY{Device: master, Path: slave.Name(), slave: slave}
	if link != "" {
		_ = os.Remove(link)
		if err := os.Symlink(slave.Name(), link); err != nil {
			p.Close()
			return nil, fmt.Errorf("link %s: %w", link, err)
		}
		p.Path, p.link = link, link
	}
	return p, nil
}

// Close removes the pair; a driver reading the slave sees the port vanish.
func (p *PTY) Close() error {
	if p.link != "" {
		_ = os.Remove(p.link)
	}
	p.slave.Close()
	return p.Device.Close()
}

func makeRaw(f *os.File) error {
	fd := int(f.Fd())
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("pty termios: %w", err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

// Pending is how many bytes written to the device side wait unread on the
// host side (TIOCINQ on the slave): 0 means the host has taken everything.
func (p *PTY) Pending() (int, error) {
	return unix.IoctlGetInt(int(p.slave.Fd()), unix.TIOCINQ)
}

// Unplug closes the pair as a pulled USB adapter vanishes: the host's open
// port fails and the path (the link) disappears until Replug.
func (p *PTY) Unplug() error {
	if p.link != "" {
		_ = os.Remove(p.link)
	}
	p.slave.Close()
	return p.Device.Close()
}

// Replug opens a fresh pair behind the same link, as a re-plugged adapter
// reappears under its /dev/serial/by-id name. Without a link the host could
// not find the new port, so it is an error.
func (p *PTY) Replug(context.Context) (io.ReadWriter, error) {
	if p.link == "" {
		return nil, fmt.Errorf("replug needs a pty opened with a link path")
	}
	n, err := OpenPTY(p.link)
	if err != nil {
		return nil, err
	}
	p.Device, p.slave = n.Device, n.slave
	return p.Device, nil
}

func pollable(f *os.File) (*os.File, error) {
	defer f.Close()
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		return nil, fmt.Errorf("pty: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("pty: %w", err)
	}
	unix.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), f.Name()), nil
}
