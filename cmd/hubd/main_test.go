package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMWithHalfOpenConnects: sockets that never complete an MQTT
// CONNECT must not keep hubd from stopping.
func TestSIGTERMWithHalfOpenConnects(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "hubd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("crossing: kz-t\nmqtt: %q\ndata_dir: %s\n", addr, filepath.Join(dir, "data"))), 0o600)
	cmd := exec.Command(bin, "-config", cfg)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.Contains(sc.Text(), "hub started") {
	}
	go func() { // keep draining the log
		for sc.Scan() {
		}
	}()
	for range 20 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte{0x10}) // the first byte of a CONNECT, and no more
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("hubd exited with %v", err)
		}
	case <-time.After(8 * time.Second): // well inside the 10 s CONNECT deadline
		t.Fatal("hubd ignored SIGTERM with half-open connections")
	}
}
