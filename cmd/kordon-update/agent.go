package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/kordon/kordon/internal/atomicfile"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Agent is the box side of signed updates. Its life:
//
//	boot   -> if an update is pending and we run its version: health-check
//	          edged, then commit, or roll back (switch to the other root,
//	          reboot) and remember the version as bad forever.
//	poll   -> fetch manifest.json, verify the ed25519 signature, skip what is
//	          not newer, not ours or known bad; stream the root image into
//	          gokrazy's update endpoint (inactive partition) while hashing it;
//	          switch and reboot only if size and both hashes match.
type Agent struct {
	Version   string // running version (/etc/kordon/version)
	Target    string // vm | rpi (/etc/kordon/target)
	Keys      []ed25519.PublicKey
	StateDir  string // /perm/kordon/update
	UpdateURL string // base URL of the release directory; "" = do not poll
	Interval  time.Duration

	HealthURL     string        // edged's /healthz
	HealthTimeout time.Duration // how long a new release gets to become healthy
	MaxBoots      int           // boots a pending release gets before rollback

	Gokrazy  Gokrazy
	Download *http.Client
	Log      *log.Logger

	mu    sync.Mutex
	state State
}

// Gokrazy is the part of gokrazy's local update API the agent uses.
type Gokrazy interface {
	PutRoot(ctx context.Context, r io.Reader) (sha256hex string, err error)
	Switch(ctx context.Context) error
	Reboot(ctx context.Context) error
}

// State is persisted in StateDir/state.json (written atomically).
type State struct {
	Committed string              `json:"committed,omitempty"` // last version that passed its health check
	Pending   *Pending            `json:"pending,omitempty"`
	Bad       map[string]BadEntry `json:"bad,omitempty"`     // versions never to install again
	Refused   map[string]Refusal  `json:"refused,omitempty"` // transient refusals (retried after a while)
	// RollingBack is set while switching back from a bad version, so a crash
	// between "remember bad" and "switch" is finished on the next boot.
	RollingBack string    `json:"rolling_back,omitempty"`
	Rollbacks   int       `json:"rollbacks_attempted,omitempty"`
	LastCheck   time.Time `json:"last_check,omitempty"`
	LastResult  string    `json:"last_result,omitempty"`
	History     []Event   `json:"history,omitempty"`
}

type Pending struct {
	Version     string    `json:"version"`
	From        string    `json:"from"`
	SHA256      string    `json:"sha256"`
	Installed   time.Time `json:"installed"`
	Boots       int       `json:"boots"`
	FromHealthy bool      `json:"from_healthy"` // was edged healthy before the update?
}

type BadEntry struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

type Refusal struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	Count  int       `json:"count"`
}

type Event struct {
	At      time.Time `json:"at"`
	Version string    `json:"version"`
	What    string    `json:"what"` // installed | committed | rolled-back | refused
	Detail  string    `json:"detail,omitempty"`
}

func (a *Agent) statePath() string { return filepath.Join(a.StateDir, "state.json") }

func (a *Agent) load() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	b, err := os.ReadFile(a.statePath())
	if errors.Is(err, os.ErrNotExist) {
		a.state = State{}
		return nil
	}
	if err != nil {
		return err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		// A torn state file must not brick updates; keep it for inspection.
		os.Rename(a.statePath(), a.statePath()+".corrupt")
		a.Log.Printf("state file unreadable (%v); starting afresh, kept as state.json.corrupt", err)
		st = State{}
	}
	a.state = st
	return nil
}

// save writes the state durably.
func (a *Agent) save() error {
	a.mu.Lock()
	b, err := json.MarshalIndent(a.state, "", "  ")
	a.mu.Unlock()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(a.StateDir, 0o700); err != nil {
		return err
	}
	return atomicfile.Write(a.statePath(), b, 0o600)
}

func (a *Agent) event(version, what, detail string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.state.History = append(a.state.History, Event{At: time.Now().UTC(), Version: version, What: what, Detail: detail})
	if n := len(a.state.History); n > 50 {
		a.state.History = a.state.History[n-50:]
	}
	a.Log.Printf("%s %s %s", what, version, detail)
}

// Snapshot returns a copy of the state (for the status page).
func (a *Agent) Snapshot() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	b, _ := json.Marshal(a.state)
	var st State
	json.Unmarshal(b, &st)
	return st
}

// AfterBoot settles a pending update: commit or roll back. It returns
// errRebooting when it asked gokrazy to reboot.
func (a *Agent) AfterBoot(ctx context.Context) error {
	if err := a.load(); err != nil {
		return err
	}
	st := &a.state
	if st.Bad == nil {
		st.Bad = map[string]BadEntry{}
	}

	// A rollback that was interrupted before the switch: finish it.
	if st.RollingBack != "" {
		if st.RollingBack == a.Version && st.Rollbacks < 3 {
			st.Rollbacks++
			a.save()
			a.Log.Printf("still running bad version %s: finishing rollback (attempt %d)", a.Version, st.Rollbacks)
			return a.switchAndReboot(ctx)
		}
		if st.RollingBack != a.Version {
			a.event(st.RollingBack, "rolled-back", "now running "+a.Version)
		}
		st.RollingBack, st.Rollbacks = "", 0
		if err := a.save(); err != nil {
			return err
		}
	}

	p := st.Pending
	if p == nil {
		if st.Committed == "" {
			st.Committed = a.Version
			a.save()
		}
		return nil
	}
	if a.Version != p.Version {
		// We booted something other than the release we installed: the new
		// root did not come up (or someone switched back). Never retry it.
		reason := fmt.Sprintf("box came back on %s instead of %s", a.Version, p.Version)
		st.Bad[p.Version] = BadEntry{Reason: reason, At: time.Now().UTC()}
		st.Pending = nil
		a.event(p.Version, "rolled-back", reason)
		return a.save()
	}

	p.Boots++
	if err := a.save(); err != nil {
		return err
	}
	if p.Boots > a.MaxBoots {
		return a.rollback(ctx, fmt.Sprintf("not healthy after %d boots", p.Boots-1))
	}
	a.Log.Printf("running new version %s (from %s): health-checking edged at %s for up to %v",
		p.Version, p.From, a.HealthURL, a.HealthTimeout)
	err := a.waitHealthy(ctx, a.HealthTimeout)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil && p.FromHealthy {
		return a.rollback(ctx, "edged health check failed: "+err.Error())
	}
	detail := "edged healthy"
	if err != nil {
		detail = "edged not healthy, but it was not healthy before the update either: " + err.Error()
	}
	st.Pending = nil
	st.Committed = a.Version
	a.event(a.Version, "committed", detail)
	return a.save()
}

var errRebooting = errors.New("rebooting")

func (a *Agent) rollback(ctx context.Context, reason string) error {
	st := &a.state
	v := st.Pending.Version
	st.Bad[v] = BadEntry{Reason: reason, At: time.Now().UTC()}
	st.Pending = nil
	st.RollingBack = v
	st.Rollbacks = 1
	a.event(v, "rolling-back", reason)
	// Remember first, then switch: a crash in between is finished at the
	// next boot (RollingBack), never forgotten.
	if err := a.save(); err != nil {
		return err
	}
	return a.switchAndReboot(ctx)
}

func (a *Agent) switchAndReboot(ctx context.Context) error {
	if err := a.Gokrazy.Switch(ctx); err != nil {
		return fmt.Errorf("switching root partition: %w", err)
	}
	if err := a.Gokrazy.Reboot(ctx); err != nil {
		return fmt.Errorf("rebooting: %w", err)
	}
	return errRebooting
}

func (a *Agent) healthOnce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.HealthURL, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", a.HealthURL, resp.Status)
	}
	return nil
}

// waitHealthy waits until edged answers 200 twice, a few seconds apart (so a
// daemon that starts and immediately crashes does not pass).
func (a *Agent) waitHealthy(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	ok := 0
	for time.Now().Before(deadline) {
		if err := a.healthOnce(ctx); err != nil {
			last, ok = err, 0
		} else if ok++; ok >= 2 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(3 * time.Second):
		}
	}
	if last == nil {
		last = errors.New("no answer")
	}
	return fmt.Errorf("not healthy within %v: %v", timeout, last)
}

// Check fetches the manifest once and installs a release if there is a new,
// valid one. It returns errRebooting after switching to a new release.
func (a *Agent) Check(ctx context.Context) error {
	err := a.check(ctx)
	a.mu.Lock()
	a.state.LastCheck = time.Now().UTC()
	switch {
	case err == nil:
		a.state.LastResult = "up to date (" + a.Version + ")"
	case errors.Is(err, errRebooting):
		a.state.LastResult = "installed; rebooting"
	default:
		a.state.LastResult = err.Error()
	}
	a.mu.Unlock()
	a.save()
	return err
}

func (a *Agent) check(ctx context.Context) error {
	if a.UpdateURL == "" {
		return nil
	}
	a.mu.Lock()
	pending := a.state.Pending
	a.mu.Unlock()
	if pending != nil {
		return fmt.Errorf("update to %s still pending", pending.Version)
	}
	raw, err := a.get(ctx, "manifest.json", 1<<20)
	if err != nil {
		return fmt.Errorf("fetching manifest: %w", err)
	}
	m, err := VerifyManifest(raw, a.Keys)
	if err != nil {
		a.refuse("manifest", "refused manifest: "+err.Error())
		return fmt.Errorf("refused manifest: %w", err)
	}
	if m.Target != a.Target {
		return fmt.Errorf("release %s is for target %q, this box is %q: ignored", m.Version, m.Target, a.Target)
	}
	if compareVersions(m.Version, a.Version) <= 0 {
		return nil // not newer: nothing to do (this also refuses downgrades)
	}
	a.mu.Lock()
	bad, isBad := a.state.Bad[m.Version]
	ref, refused := a.state.Refused[m.Version]
	a.mu.Unlock()
	if isBad {
		return fmt.Errorf("release %s failed before (%s): never retried", m.Version, bad.Reason)
	}
	if refused {
		backoff := time.Duration(1<<min(ref.Count, 8)) * time.Minute
		if time.Since(ref.At) < backoff {
			return fmt.Errorf("release %s refused %v ago (%s); retrying after %v", m.Version, time.Since(ref.At).Round(time.Second), ref.Reason, backoff)
		}
	}
	return a.install(ctx, m)
}

func (a *Agent) refuse(version, reason string) {
	a.mu.Lock()
	if a.state.Refused == nil {
		a.state.Refused = map[string]Refusal{}
	}
	r := a.state.Refused[version]
	r.Reason, r.At = reason, time.Now().UTC()
	r.Count++
	a.state.Refused[version] = r
	a.mu.Unlock()
	a.event(version, "refused", reason)
	a.save()
}

func (a *Agent) install(ctx context.Context, m *Manifest) error {
	f := m.Files["root"]
	start := time.Now()
	a.Log.Printf("installing %s (root %s, %d bytes) into the inactive root partition", m.Version, f.Path, f.Size)
	body, err := a.open(ctx, f.Path)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", f.Path, err)
	}
	defer body.Close()
	h := sha256.New()
	cr := &countingReader{r: io.LimitReader(body, f.Size+1)}
	got, err := a.Gokrazy.PutRoot(ctx, io.TeeReader(cr, h))
	if err != nil {
		return fmt.Errorf("writing root partition: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	switch {
	case cr.n != f.Size:
		err = fmt.Errorf("root image is %d bytes, manifest says %d", cr.n, f.Size)
	case sum != f.SHA256:
		err = fmt.Errorf("root image SHA-256 %s does not match the signed manifest (%s): tampered or corrupt", sum[:16], f.SHA256[:16])
	case !strings.EqualFold(strings.TrimSpace(got), f.SHA256):
		err = fmt.Errorf("gokrazy wrote a root partition with SHA-256 %.16s, want %.16s", got, f.SHA256)
	}
	if err != nil {
		// The inactive partition holds garbage now, but nothing points at it.
		a.refuse(m.Version, err.Error())
		return fmt.Errorf("refused release %s: %w", m.Version, err)
	}
	fromHealthy := a.healthOnce(ctx) == nil
	a.mu.Lock()
	a.state.Pending = &Pending{Version: m.Version, From: a.Version, SHA256: f.SHA256,
		Installed: time.Now().UTC(), FromHealthy: fromHealthy}
	delete(a.state.Refused, m.Version)
	a.mu.Unlock()
	a.event(m.Version, "installed", fmt.Sprintf("root written and verified in %v; switching and rebooting", time.Since(start).Round(100*time.Millisecond)))
	if err := a.save(); err != nil {
		return err
	}
	if err := a.Gokrazy.Switch(ctx); err != nil {
		a.mu.Lock()
		a.state.Pending = nil
		a.mu.Unlock()
		a.save()
		return fmt.Errorf("switching root partition: %w", err)
	}
	if err := a.Gokrazy.Reboot(ctx); err != nil {
		return fmt.Errorf("rebooting: %w", err)
	}
	return errRebooting
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (a *Agent) resolve(rel string) (string, error) {
	base, err := url.Parse(a.UpdateURL)
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	r, err := url.Parse(rel)
	if err != nil {
		return "", err
	}
	return base.ResolveReference(r).String(), nil
}

func (a *Agent) open(ctx context.Context, rel string) (io.ReadCloser, error) {
	u, err := a.resolve(rel)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.Download.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return resp.Body, nil
}

func (a *Agent) get(ctx context.Context, rel string, max int64) ([]byte, error) {
	body, err := a.open(ctx, rel)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", rel, max)
	}
	return b, nil
}

// Run settles the boot, then polls until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.AfterBoot(ctx); err != nil {
		if errors.Is(err, errRebooting) {
			<-ctx.Done()
			return nil
		}
		a.Log.Printf("after boot: %v", err)
	}
	retry := 5 * time.Second
	for {
		err := a.Check(ctx)
		wait := a.Interval
		switch {
		case errors.Is(err, errRebooting):
			<-ctx.Done() // gokrazy is stopping us
			return nil
		case err != nil:
			a.Log.Printf("update check: %v", err)
			// network not up yet, server down: look again soon, backing off
			if retry < wait {
				wait = retry
			}
			retry = min(2*retry, 10*time.Minute)
		default:
			retry = 5 * time.Second
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}
