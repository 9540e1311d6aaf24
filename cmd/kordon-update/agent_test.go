package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeBox is gokrazy's update API plus the box's two root partitions.
type fakeBox struct {
	mu       sync.Mutex
	inactive []byte
	switched int
	reboots  int
}

func (f *fakeBox) PutRoot(ctx context.Context, r io.Reader) (string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	f.inactive = b
	f.mu.Unlock()
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), nil
}
func (f *fakeBox) Switch(ctx context.Context) error {
	f.mu.Lock()
	f.switched++
	f.mu.Unlock()
	return nil
}
func (f *fakeBox) Reboot(ctx context.Context) error {
	f.mu.Lock()
	f.reboots++
	f.mu.Unlock()
	return nil
}

type rig struct {
	t       *testing.T
	pub     ed25519.PublicKey
	priv    ed25519.PrivateKey
	files   map[string][]byte
	box     *fakeBox
	state   string
	healthy bool
	health  *httptest.Server
	srv     *httptest.Server
}

func newRig(t *testing.T) *rig {
	r := &rig{t: t, files: map[string][]byte{}, box: &fakeBox{}, state: t.TempDir(), healthy: true}
	r.pub, r.priv = keypair(t)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, ok := r.files[strings.TrimPrefix(req.URL.Path, "/rel/")]
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Write(b)
	}))
	r.health = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !r.healthy {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(r.srv.Close)
	t.Cleanup(r.health.Close)
	return r
}

// publish signs a release of version v whose root is content.
func (r *rig) publish(v string, content []byte, signWith ed25519.PrivateKey) {
	h := sha256.Sum256(content)
	name := "root-" + v + ".squashfs"
	r.files[name] = content
	raw, err := SignManifest(&Manifest{Format: 1, Target: "vm", Version: v, Created: time.Now().UTC(),
		Files: map[string]File{"root": {Path: name, Size: int64(len(content)), SHA256: hex.EncodeToString(h[:])}}}, signWith)
	if err != nil {
		r.t.Fatal(err)
	}
	r.files["manifest.json"] = raw
}

func (r *rig) agent(version string) *Agent {
	return &Agent{Version: version, Target: "vm", Keys: []ed25519.PublicKey{r.pub},
		StateDir: r.state, UpdateURL: r.srv.URL + "/rel", Interval: time.Hour,
		HealthURL: r.health.URL + "/healthz", HealthTimeout: 4 * time.Second, MaxBoots: 3,
		Gokrazy: r.box, Download: http.DefaultClient, Log: log.New(io.Discard, "", 0)}
}

func TestAgentGoodUpdateCommits(t *testing.T) {
	r := newRig(t)
	r.publish("1.1.0", []byte("new root"), r.priv)
	a := r.agent("1.0.0")
	ctx := context.Background()
	if err := a.AfterBoot(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Check(ctx); !errors.Is(err, errRebooting) {
		t.Fatalf("check: %v", err)
	}
	if !bytes.Equal(r.box.inactive, []byte("new root")) || r.box.switched != 1 || r.box.reboots != 1 {
		t.Fatalf("box: %+v", r.box)
	}
	// the box comes back on 1.1.0 and edged is healthy
	b := r.agent("1.1.0")
	if err := b.AfterBoot(ctx); err != nil {
		t.Fatal(err)
	}
	st := b.Snapshot()
	if st.Pending != nil || st.Committed != "1.1.0" {
		t.Fatalf("state after good boot: %+v", st)
	}
	if err := b.Check(ctx); err != nil { // same version: nothing to do
		t.Fatal(err)
	}
	if r.box.switched != 1 {
		t.Fatal("reinstalled the running version")
	}
}

func TestAgentRefusesTamperedAndUnsigned(t *testing.T) {
	r := newRig(t)
	_, otherPriv := keypair(t)
	ctx := context.Background()

	r.publish("1.1.0", []byte("evil root"), otherPriv) // signed by an untrusted key
	a := r.agent("1.0.0")
	a.AfterBoot(ctx)
	if err := a.Check(ctx); err == nil || !strings.Contains(err.Error(), "refused manifest") {
		t.Fatalf("untrusted signature: %v", err)
	}

	r.publish("1.1.0", []byte("good root"), r.priv)
	r.files["root-1.1.0.squashfs"] = []byte("good roos") // same size, tampered content
	if err := a.Check(ctx); err == nil || !strings.Contains(err.Error(), "tampered") {
		t.Fatalf("tampered root: %v", err)
	}
	r.files["root-1.1.0.squashfs"] = []byte("good root plus more") // longer
	a.state.Refused = nil
	if err := a.Check(ctx); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("oversized root: %v", err)
	}
	if r.box.switched != 0 || r.box.reboots != 0 {
		t.Fatalf("switched to a refused release: %+v", r.box)
	}
	if a.Snapshot().Pending != nil {
		t.Fatal("refused release left pending")
	}
	// A refused release is retried only after a back-off (not in a hot loop).
	r.files["root-1.1.0.squashfs"] = []byte("good root")
	if err := a.Check(ctx); err == nil || !strings.Contains(err.Error(), "retrying after") {
		t.Fatalf("expected back-off: %v", err)
	}
}

func TestAgentRollsBackAndNeverRetries(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.publish("1.1.0", []byte("broken root"), r.priv)
	a := r.agent("1.0.0")
	a.AfterBoot(ctx)
	if err := a.Check(ctx); !errors.Is(err, errRebooting) {
		t.Fatal(err)
	}
	// 1.1.0 boots, but edged never becomes healthy
	r.healthy = false
	b := r.agent("1.1.0")
	if err := b.AfterBoot(ctx); !errors.Is(err, errRebooting) {
		t.Fatalf("after boot of a broken release: %v", err)
	}
	if r.box.switched != 2 || r.box.reboots != 2 {
		t.Fatalf("did not switch back: %+v", r.box)
	}
	// back on 1.0.0
	r.healthy = true
	c := r.agent("1.0.0")
	if err := c.AfterBoot(ctx); err != nil {
		t.Fatal(err)
	}
	st := c.Snapshot()
	if _, bad := st.Bad["1.1.0"]; !bad || st.RollingBack != "" {
		t.Fatalf("state after rollback: %+v", st)
	}
	for i := 0; i < 3; i++ {
		if err := c.Check(ctx); err == nil || !strings.Contains(err.Error(), "never retried") {
			t.Fatalf("retried a bad release: %v", err)
		}
	}
	if r.box.switched != 2 {
		t.Fatal("installed a bad release again")
	}
	// a fixed release is taken
	r.publish("1.1.1", []byte("fixed root"), r.priv)
	if err := c.Check(ctx); !errors.Is(err, errRebooting) {
		t.Fatalf("fixed release: %v", err)
	}
}

func TestAgentInterruptedRollbackFinishes(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	a := r.agent("1.1.0")
	a.state = State{Bad: map[string]BadEntry{"1.1.0": {Reason: "x"}}, RollingBack: "1.1.0", Rollbacks: 1}
	a.save()
	if err := a.AfterBoot(ctx); !errors.Is(err, errRebooting) {
		t.Fatalf("interrupted rollback not finished: %v", err)
	}
}

func TestAgentNewRootNeverCameUp(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.publish("1.1.0", []byte("root"), r.priv)
	a := r.agent("1.0.0")
	a.AfterBoot(ctx)
	a.Check(ctx)
	// the firmware fell back to the old root (e.g. someone switched back)
	b := r.agent("1.0.0")
	if err := b.AfterBoot(ctx); err != nil {
		t.Fatal(err)
	}
	if _, bad := b.Snapshot().Bad["1.1.0"]; !bad {
		t.Fatal("release that never came up not remembered as bad")
	}
}

func TestAgentIgnoresDowngradeAndOtherTarget(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.publish("0.9.0", []byte("old root"), r.priv) // validly signed, but older
	a := r.agent("1.0.0")
	a.AfterBoot(ctx)
	if err := a.Check(ctx); err != nil || r.box.switched != 0 {
		t.Fatalf("downgrade: err %v, box %+v", err, r.box)
	}
	a.Target = "rpi"
	r.publish("2.0.0", []byte("vm root"), r.priv)
	if err := a.Check(ctx); err == nil || r.box.switched != 0 {
		t.Fatalf("other target: err %v", err)
	}
}

func TestAgentStateSurvivesCorruptFile(t *testing.T) {
	r := newRig(t)
	os.WriteFile(filepath.Join(r.state, "state.json"), []byte("{torn"), 0o600)
	a := r.agent("1.0.0")
	if err := a.AfterBoot(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r.state, "state.json.corrupt")); err != nil {
		t.Fatal("corrupt state not kept")
	}
}

func TestHealthURLFromConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "edged.yaml")
	os.WriteFile(p, []byte("crossing: x\nhttp: \":9000\"   # status\nhub: {address: x}\n"), 0o600)
	if got := healthURLFromConfig(p); got != "http://127.0.0.1:9000/healthz" {
		t.Fatal(got)
	}
	if got := healthURLFromConfig("/nonexistent"); got != "http://127.0.0.1:8081/healthz" {
		t.Fatal(got)
	}
}
