package dash

import (
	"crypto/hmac"
	"crypto/sha256"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// loginGuard slows password guessing without handing an attacker a way
// to lock a real user out: failures are counted per (address, user), so a
// stranger's wrong passwords lock only that stranger's guesses at that
// name; an address failing across many names is slowed as a whole; one
// guess per (address, user) is checked at a time and at most a few bcrypt
// checks run at once, so parallel guesses cost the hub one core at most.
type loginGuard struct {
	sem chan struct{}
	key []byte // HMAC key for the recent-success cache, random per process

	mu       sync.Mutex
	fails    map[string]*failures // address \x00 user
	addrs    map[string]*failures // address
	checking map[string]bool      // address \x00 user with a check running
	recent   map[string][]byte    // user -> HMAC of the password last proven
	recentAt map[string]time.Time
	now      func() time.Time
}

type failures struct {
	n     int
	until time.Time
	last  time.Time
}

const (
	userFreeFailures = 5  // per (address, user) before back-off
	addrFreeFailures = 20 // per address, any user, before back-off
	maxLoginBackoff  = 15 * time.Minute
	recentLogin      = 5 * time.Minute
)

type checkResult int

const (
	checkOK checkResult = iota
	checkWrong
	checkLocked
	checkBusy
)

func (c checkResult) String() string {
	return [...]string{"ok", "login_wrong", "login_locked", "login_busy"}[c]
}

func newLoginGuard() *loginGuard {
	return &loginGuard{sem: make(chan struct{}, 2), key: []byte(token()),
		fails: map[string]*failures{}, addrs: map[string]*failures{}, checking: map[string]bool{},
		recent: map[string][]byte{}, recentAt: map[string]time.Time{}, now: time.Now}
}

// dummyHash: an unknown user costs what a wrong password costs.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no such user"), bcrypt.DefaultCost)

// check verifies name's password from addr.
func (g *loginGuard) check(addr, name, pw string, users map[string]User) (User, checkResult) {
	u, known := users[name]
	key := addr + "\x00" + name
	mac := g.mac(name, pw)
	g.mu.Lock()
	now := g.now()
	if f := g.fails[key]; f != nil && now.Before(f.until) {
		g.mu.Unlock()
		return User{}, checkLocked
	}
	if f := g.addrs[addr]; f != nil && now.Before(f.until) {
		g.mu.Unlock()
		return User{}, checkLocked
	}
	// Only after the lockout: a recent success saves a bcrypt, never a wait.
	if known && hmac.Equal(g.recent[name], mac) && now.Sub(g.recentAt[name]) < recentLogin {
		g.mu.Unlock()
		return u, checkOK
	}
	if g.checking[key] {
		g.mu.Unlock()
		return User{}, checkBusy
	}
	g.checking[key] = true
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.checking, key)
		g.mu.Unlock()
	}()

	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case g.sem <- struct{}{}:
	case <-t.C:
		return User{}, checkBusy
	}
	hash := []byte(u.PasswordHash)
	if !known {
		hash = dummyHash
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(pw))
	<-g.sem

	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil || !known {
		g.fail(g.fails, key, userFreeFailures)
		g.fail(g.addrs, addr, addrFreeFailures)
		return User{}, checkWrong
	}
	delete(g.fails, key)
	g.recent[name], g.recentAt[name] = mac, g.now()
	return u, checkOK
}

// fail counts a failure; past free ones, each doubles the wait.
func (g *loginGuard) fail(m map[string]*failures, key string, free int) {
	now := g.now()
	if len(m) > 10000 { // bound memory against spraying
		for k, f := range m {
			if now.After(f.until) && now.Sub(f.last) > time.Hour {
				delete(m, k)
			}
		}
		if len(m) > 10000 { // still full: forget half, at random, rather than grow
			for k := range m {
				delete(m, k)
				if len(m) <= 5000 {
					break
				}
			}
		}
	}
	f := m[key]
	if f == nil || (now.After(f.until) && now.Sub(f.last) > time.Hour) {
		f = &failures{}
		m[key] = f
	}
	f.n++
	f.last = now
	if f.n >= free {
		f.until = now.Add(min(maxLoginBackoff, time.Minute<<min(f.n-free, 4)))
	}
}

func (g *loginGuard) mac(name, pw string) []byte {
	m := hmac.New(sha256.New, g.key)
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(pw))
	return m.Sum(nil)
}
