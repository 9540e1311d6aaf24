package faults

import (
	"io"
	"net"
	"sync"
	"testing"
)

// proxy sits between edged and hubd so a test can cut the link: "reset"
// closes every connection and refuses new ones (a router reboot), "blackhole"
// keeps connections open but drops every byte both ways (a dead uplink that
// TCP cannot see), "pass" forwards again.
type proxy struct {
	addr     string
	upstream string
	ln       net.Listener

	mu    sync.Mutex
	mode  string
	conns map[net.Conn]bool
	// Bytes forwarded; a test can check traffic flowed again.
	forwarded int64
}

func newProxy(t testing.TB, upstream string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: ln.Addr().String(), upstream: upstream, ln: ln, mode: "pass", conns: map[net.Conn]bool{}}
	go p.accept()
	t.Cleanup(func() { ln.Close(); p.set("reset") })
	return p
}

func (p *proxy) set(mode string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if mode != "blackhole" {
		// Leaving a blackhole or resetting: connections that lost bytes are dead.
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
	p.mode = mode
}

func (p *proxy) current() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == "reset" {
		return false
	}
	for _, c := range cs {
		p.conns[c] = true
	}
	return true
}

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

func (p *proxy) serve(c net.Conn) {
	switch p.current() {
	case "reset":
		c.Close()
		return
	case "blackhole":
		if p.track(c) {
			io.Copy(io.Discard, c) // hold it open, answer nothing
		}
		c.Close()
		return
	}
	u, err := net.Dial("tcp", p.upstream)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, u) {
		c.Close()
		u.Close()
		return
	}
	go p.pipe(u, c)
	p.pipe(c, u)
}

// pipe copies src to dst while the link passes; in a blackhole it reads and drops.
func (p *proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if p.current() == "pass" {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
				p.mu.Lock()
				p.forwarded += int64(n)
				p.mu.Unlock()
			}
		}
		if err != nil {
			return
		}
	}
}
