package edge

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Technician may read the box's /status and /metrics over the network
// (HTTP Basic). The password is stored only as a bcrypt hash
// (`hubd passwd SECRET` prints one).
type Technician struct {
	User         string `yaml:"user"`
	PasswordHash string `yaml:"password_hash"`
}

// technicians checks Basic credentials for the status endpoints: one
// bcrypt at a time, an address that keeps failing waits, and a password
// proven in the last minutes is recognised by an HMAC (a polling
// Prometheus must not cost a bcrypt per scrape).
type technicians struct {
	users map[string][]byte
	sem   chan struct{}
	key   []byte

	mu     sync.Mutex
	recent map[string]proven
	fails  map[string]*techFailures
}

type proven struct {
	mac []byte
	at  time.Time
}

type techFailures struct {
	n     int
	until time.Time
}

func newTechnicians(list []Technician) *technicians {
	k := make([]byte, 32)
	rand.Read(k)
	t := &technicians{users: map[string][]byte{}, sem: make(chan struct{}, 1), key: k,
		recent: map[string]proven{}, fails: map[string]*techFailures{}}
	for _, u := range list {
		t.users[u.User] = []byte(u.PasswordHash)
	}
	return t
}

var techDummyHash, _ = bcrypt.GenerateFromPassword([]byte("no such technician"), bcrypt.DefaultCost)

// allowed: a client on the box itself (loopback) needs nothing; any other
// needs a technician's credentials.
func (t *technicians) allowed(r *http.Request) bool {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	user, pw, ok := r.BasicAuth()
	if !ok {
		return false
	}
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(user + "\x00" + pw))
	mac := m.Sum(nil)
	now := time.Now()
	t.mu.Lock()
	if f := t.fails[host]; f != nil && now.Before(f.until) {
		t.mu.Unlock()
		return false
	}
	if p, ok := t.recent[user]; ok && now.Sub(p.at) < 5*time.Minute && hmac.Equal(p.mac, mac) {
		t.mu.Unlock()
		return true
	}
	t.mu.Unlock()
	hash, known := t.users[user]
	if !known {
		hash = techDummyHash
	}
	t.sem <- struct{}{}
	err := bcrypt.CompareHashAndPassword(hash, []byte(pw))
	<-t.sem
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil || !known {
		if len(t.fails) > 1000 {
			t.fails = map[string]*techFailures{}
		}
		f := t.fails[host]
		if f == nil {
			f = &techFailures{}
			t.fails[host] = f
		}
		if f.n++; f.n >= 5 {
			f.until, f.n = now.Add(time.Minute), 0
		}
		return false
	}
	delete(t.fails, host)
	t.recent[user] = proven{mac: mac, at: now}
	return true
}

func (t *technicians) protect(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !t.allowed(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="kordon edge", charset="UTF-8"`)
			http.Error(w, "technician credentials required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
