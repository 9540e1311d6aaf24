package qemutest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type agentStatus struct {
	Version     string
	Committed   string
	Pending     *struct{ Version string }
	Bad         map[string]struct{ Reason string }
	Refused     map[string]struct{ Reason string }
	RollingBack string `json:"rolling_back"`
	LastResult  string `json:"last_result"`
	History     []struct{ Version, What, Detail string }
}

func (vm *VM) agent() (*agentStatus, error) {
	b, err := httpGet(vm.URL(8082, "/status"))
	if err != nil {
		return nil, err
	}
	var st agentStatus
	return &st, json.Unmarshal(b, &st)
}

func (st *agentStatus) count(version, what string) int {
	n := 0
	for _, e := range st.History {
		if e.Version == version && e.What == what {
			n++
		}
	}
	return n
}

// TestSignedUpdates boots release 1.0.0 and offers it, in turn: a manifest
// signed by an unknown key, a validly signed release whose root image was
// tampered with, a good release (1.1.0: installed, rebooted, health-checked,
// committed) and a release whose edged never becomes healthy (1.2.0: rolled
// back to 1.1.0 on its own and never tried again).
func TestSignedUpdates(t *testing.T) {
	hostTools(t)
	base := buildImage(t, "kordon-vm-1.0.0", "VERSION=1.0.0")
	good := buildImage(t, "kordon-vm-1.1.0", "VERSION=1.1.0")
	broken := buildImage(t, "kordon-vm-1.2.0-broken", "VERSION=1.2.0", "EDGED_CONFIG=/perm/kordon/missing.yaml")

	// release server on host loopback
	rel := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(rel))}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	relPort := l.Addr().(*net.TCPAddr).Port
	key := filepath.Join(repo, "firmware/keys/dev-release.key")
	publish := func(version, root, key string, extra ...string) {
		run(t, "", nil, bin+"/kordon-update", append([]string{"release", "-key", key, "-target", "vm",
			"-version", version, "-root", root, "-out", rel}, extra...)...)
	}

	hub := startHub(t, "booth-01", "secret")
	disk := flashBox(t, base+".img", serialReader, relPort, "--health-timeout", "30s")
	vm := startVM(t, disk, vmOpts{guestfwd: map[int]int{1883: hub.MQTT, 8090: relPort}})
	var st *agentStatus
	waitFor(t, 120*time.Second, "kordon-update 1.0.0 up", func() bool {
		st, err = vm.agent()
		return err == nil && st.Version == "1.0.0" && st.Committed == "1.0.0"
	})
	waitFor(t, 60*time.Second, "edged healthy", func() bool { _, err := httpGet(vm.URL(8081, "/healthz")); return err == nil })
	t.Logf("1.0.0 up %.1f s after QEMU start", time.Since(vm.Started).Seconds())

	t.Run("unknown signing key refused", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other")
		run(t, "", nil, bin+"/kordon-update", "keygen", "-out", other)
		// 1.1.0's root signed as 1.0.4: refused for its key before its version matters.
		publish("1.0.4", good+".root.squashfs", other+".key", "-unchecked-version")
		waitFor(t, 60*time.Second, "manifest refusal", func() bool {
			st, err = vm.agent()
			return err == nil && strings.Contains(st.LastResult, "refused manifest")
		})
		t.Logf("agent: %s", st.LastResult)
	})

	t.Run("tampered root refused", func(t *testing.T) {
		publish("1.0.5", good+".root.squashfs", key, "-unchecked-version") // refused for its hash first
		f, err := os.OpenFile(filepath.Join(rel, "root-1.0.5.squashfs"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		f.ReadAt(b, 4<<20)
		b[0] ^= 0x40
		f.WriteAt(b, 4<<20)
		f.Close()
		waitFor(t, 90*time.Second, "tampered release refused", func() bool {
			st, err = vm.agent()
			return err == nil && st.Refused["1.0.5"].Reason != ""
		})
		t.Logf("agent: %s", st.Refused["1.0.5"].Reason)
		if !strings.Contains(st.Refused["1.0.5"].Reason, "tampered") || st.Version != "1.0.0" || st.count("1.0.5", "installed") != 0 {
			t.Fatalf("tampered release not refused cleanly: %+v", st)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("good update commits", func(t *testing.T) {
		start := time.Now()
		publish("1.1.0", good+".root.squashfs", key)
		waitFor(t, 240*time.Second, "1.1.0 committed", func() bool {
			st, err = vm.agent()
			return err == nil && st.Version == "1.1.0" && st.Committed == "1.1.0" && st.Pending == nil
		})
		d := time.Since(start).Seconds()
		fmt.Printf("FIGURE good update 1.0.0 -> 1.1.0: %.1f s from publish to committed (download, write, reboot, health check)\n", d)
		for _, e := range st.History {
			if e.Version == "1.1.0" && e.What == "installed" {
				fmt.Printf("FIGURE good update: %s\n", e.Detail)
			}
		}
		if _, err := httpGet(vm.URL(8081, "/healthz")); err != nil {
			t.Fatalf("edged after update: %v", err)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("failing health rolls back, never retried", func(t *testing.T) {
		start := time.Now()
		publish("1.2.0", broken+".root.squashfs", key)
		waitFor(t, 300*time.Second, "1.2.0 rolled back", func() bool {
			st, err = vm.agent()
			if err != nil {
				return false // rebooting
			}
			_, bad := st.Bad["1.2.0"]
			return bad && st.Version == "1.1.0" && st.RollingBack == ""
		})
		d := time.Since(start).Seconds()
		fmt.Printf("FIGURE failing release 1.2.0: rolled back to 1.1.0 %.1f s after publish (health timeout 30 s)\n", d)
		t.Logf("bad: %+v", st.Bad["1.2.0"])
		// several more polls: the bad release stays refused
		time.Sleep(12 * time.Second)
		st, err = vm.agent()
		if err != nil || st.Version != "1.1.0" || st.count("1.2.0", "installed") != 1 || !strings.Contains(st.LastResult, "never retried") {
			t.Fatalf("after rollback: %v %+v", err, st)
		}
		if _, err := httpGet(vm.URL(8081, "/healthz")); err != nil {
			t.Fatalf("edged after rollback: %v", err)
		}
	})
	if t.Failed() {
		t.Logf("kordon-update log:\n%s", vm.GuestLog("kordon-update"))
	}
}
