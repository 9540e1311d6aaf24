package main

import (
	"database/sql"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kordon/kordon/internal/freeport"
)

// runHubProcess runs a hub round against the hubd binary, started as its
// own process on the database in dir, as a station runs it: the simulated
// boxes' clients then share the machine with it, as they share it with
// mosquitto, but not its heap and collector.
func runHubProcess(s hubSettings, dir string, creds []cred, set string, dur time.Duration, window int, perBox float64, profile string) result {
	port, pport := freePort(), freePort()
	var conf strings.Builder
	fmt.Fprintf(&conf, "crossing: %s\nmqtt: 127.0.0.1:%d\ndata_dir: %s\nlog_level: error\n", crossing, port, dir)
	fmt.Fprintf(&conf, "limits:\n  max_clients: %d\n  max_inflight: %d\n  pending_connects_per_address: %d\n", len(creds)+16, s.inflight, len(creds)+16)
	if s.guard.Rate > 0 {
		fmt.Fprintf(&conf, "  rate: %g\n", s.guard.Rate)
	}
	if s.ingest.CommitBatch > 0 {
		fmt.Fprintf(&conf, "ingest:\n  commit_batch: %d\n", s.ingest.CommitBatch)
	}
	conf.WriteString("boxes:\n")
	for _, c := range creds {
		fmt.Fprintf(&conf, "  - box: %s\n    password_hash: %q\n", c.box, c.hash)
	}
	cfgPath := filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(cfgPath, []byte(conf.String()), 0o600); err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command(s.bin, "-config", cfgPath, "-pprof", fmt.Sprintf("127.0.0.1:%d", pport))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatalf("hubd: %v", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if i > 1000 {
			cmd.Process.Kill()
			log.Fatal("hubd: not listening")
		}
		time.Sleep(20 * time.Millisecond)
	}
	profiled := make(chan struct{})
	if profile != "" {
		secs := max(int((dur + time.Second).Seconds()), 1)
		if dur == 0 {
			secs = 10 // a drain: its first seconds
		}
		go func() {
			defer close(profiled)
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", pport, secs))
			if err != nil {
				log.Printf("profile: %v", err)
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(profile)
			if err != nil {
				log.Fatal(err)
			}
			defer f.Close()
			io.Copy(f, resp.Body)
		}()
	} else {
		close(profiled)
	}
	res := drive("tcp://"+addr, creds, set, dur, window, perBox, nil, cmd.Process.Pid)
	<-profiled
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	var size int64
	for _, f := range []string{"hub.db", "hub.db-wal"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err == nil {
			size += fi.Size()
		}
	}
	if stored := storedReadings(dir); stored > 0 {
		res.bytesPer = float64(size) / float64(stored)
	}
	return res
}

func storedReadings(dir string) int64 {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "hub.db")+"?_pragma=query_only(1)")
	if err != nil {
		return 0
	}
	defer db.Close()
	var n int64
	db.QueryRow(`SELECT COUNT(*) FROM readings`).Scan(&n)
	return n
}

func freePort() int {
	port, err := freeport.Loopback()
	if err != nil {
		log.Fatal(err)
	}
	return port
}
