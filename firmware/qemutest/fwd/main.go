// Command fwd connects its stdin/stdout to a TCP address. QEMU runs it for
// each guest connection to a guestfwd address (guestfwd=...-cmd:fwd ADDR), so
// a guest on an isolated (restrict=on) user network reaches exactly the host
// loopback services a test names, and nothing else.
package main

import (
	"io"
	"net"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		os.Stderr.WriteString("usage: fwd HOST:PORT\n")
		os.Exit(2)
	}
	host, _, err := net.SplitHostPort(os.Args[1])
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		os.Stderr.WriteString("fwd: only loopback addresses\n")
		os.Exit(2)
	}
	c, err := net.Dial("tcp", os.Args[1])
	if err != nil {
		os.Exit(1)
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(c, os.Stdin); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(os.Stdout, c); done <- struct{}{} }()
	<-done
}
