// Package freeport picks a loopback TCP port for a process started later
// (a test's hubd or edged, a benchmark's broker).
//
// Asking the kernel for port 0 and closing the listener, the usual way,
// hands back a port from the ephemeral range, the same range the kernel
// gives every outgoing connection: on a busy machine (hundreds of client
// connections in a benchmark or a parallel test package) another socket
// can take the port before the process binds it, and the process's
// listener fails. A port below the ephemeral range is never given to an
// outgoing connection, so only another caller choosing the same port by
// chance could take it, and the choice is random.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// lowest is the bottom of the range ports are chosen from: above the
// well-known and most registered services' ports.
const lowest = 20000

// Loopback returns a port on 127.0.0.1 that was free a moment ago and is
// not one the kernel gives to outgoing connections.
func Loopback() (int, error) {
	top := ephemeralLow()
	if top <= lowest+100 {
		return kernelPort() // an unusual range: the kernel's own choice
	}
	for range 200 {
		port := lowest + rand.IntN(top-lowest)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken: another
		}
		l.Close()
		return port, nil
	}
	return 0, errors.New("freeport: no free loopback port below the ephemeral range")
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux;
// 32768, its default, where the range cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}

func kernelPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
