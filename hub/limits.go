package hub

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// Guard bounds what one identity (a box, an observer) or one network
// address can make the broker do (docs/security.md). Zero fields take the
// defaults below.
type Guard struct {
	// ConnectTimeout is how long a connection may take from TCP accept to a
	// complete CONNECT (TLS handshake included); default 10s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// PendingConnects bounds connections that have not completed CONNECT:
	// in all (default 256) and from one address (default 32).
	PendingConnects        int `yaml:"pending_connects"`
	PendingConnectsPerAddr int `yaml:"pending_connects_per_address"`
	// ConnectRate and ConnectBurst bound the connections one address may
	// open per second (default 10, bursts of twice PendingConnectsPerAddr):
	// a loop of connections from one address, each cheap, is refused at
	// accept, before a goroutine, a CONNECT parse or a password check is
	// spent on it, and the other addresses keep theirs.
	ConnectRate  int `yaml:"connect_rate"`
	ConnectBurst int `yaml:"connect_burst"`
	// ObserverSessions is how many sessions one observer identity may hold
	// (default 8); a box holds one, under its own client id.
	ObserverSessions int `yaml:"observer_sessions"`
	// Rate and Burst bound the packets per second one identity may send;
	// beyond them the broker reads that identity's connection more slowly.
	// The defaults (25,000/s) leave room for a box draining its backlog
	// after an outage; sharing the hub between boxes is FairShare's job.
	// Lower them where a box must not be able to take that much.
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
	// ByteRate bounds the bytes per second of messages one identity may
	// send (default 32 MiB/s, above a backlog drain of 20,000 readings/s):
	// a flood of large messages, refused or not, costs the hub their reading
	// and their memory before any check can refuse them.
	ByteRate int `yaml:"byte_rate"`
	// FairShare is how many readings one identity keeps in the ingest
	// while the hub is congested and another identity is waiting (fair.go;
	// default 8). Alone, a box may fill its whole window.
	FairShare int `yaml:"fair_share"`
	// RetainedPerBox bounds the retained topics of one box (its state and
	// one availability per device; default 64); MaxRetained the bytes of
	// one retained message (default 16 KiB).
	RetainedPerBox int `yaml:"retained_per_box"`
	MaxRetained    int `yaml:"max_retained"`
	// AuthChecks bounds concurrent password checks (bcrypt), default 1:
	// a flood of guesses can take one core, never all.
	AuthChecks int `yaml:"auth_checks"`
}

// Defaults of Guard.
const (
	DefaultConnectTimeout   = 10 * time.Second
	DefaultPendingConnects  = 256
	DefaultPendingPerAddr   = 32
	DefaultConnectRate      = 10
	DefaultObserverSessions = 8
	DefaultRate             = 25000
	DefaultBurst            = 25000
	DefaultRetainedPerBox   = 64
	DefaultMaxRetained      = 16 << 10
	DefaultAuthChecks       = 1
	DefaultFairShare        = 8
	DefaultByteRate         = 32 << 20
)

func (g Guard) withDefaults() Guard {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if g.ConnectTimeout <= 0 {
		g.ConnectTimeout = DefaultConnectTimeout
	}
	def(&g.PendingConnects, DefaultPendingConnects)
	def(&g.PendingConnectsPerAddr, DefaultPendingPerAddr)
	def(&g.ConnectBurst, 2*g.PendingConnectsPerAddr)
	def(&g.ConnectRate, DefaultConnectRate)
	def(&g.ObserverSessions, DefaultObserverSessions)
	def(&g.Burst, DefaultBurst)
	def(&g.RetainedPerBox, DefaultRetainedPerBox)
	def(&g.MaxRetained, DefaultMaxRetained)
	def(&g.AuthChecks, DefaultAuthChecks)
	def(&g.FairShare, DefaultFairShare)
	def(&g.ByteRate, DefaultByteRate)
	if g.Rate <= 0 {
		g.Rate = DefaultRate
	}
	return g
}

// refusals counts what the broker refused, by reason. It belongs to one
// hub (several hubs in a test process keep their own counts).
type refusals struct {
	desc *prometheus.Desc
	mu   sync.Mutex
	m    map[string]*atomic.Int64
}

func newRefusals(d *prometheus.Desc) *refusals {
	return &refusals{desc: d, m: map[string]*atomic.Int64{}}
}

func (r *refusals) counter(reason string) *atomic.Int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.m[reason]
	if c == nil {
		c = new(atomic.Int64)
		r.m[reason] = c
	}
	return c
}

func (r *refusals) add(reason string)       { r.counter(reason).Add(1) }
func (r *refusals) get(reason string) int64 { return r.counter(reason).Load() }

var mRefusals = prometheus.NewDesc("kordon_hub_mqtt_refused_total",
	"What the broker refused or slowed, by reason (credentials, backoff, auth_busy, client_id, will, sessions, identity, retain, rate, byte_rate, fair_share, connect_timeout, pending, accept_rate, certificate, acl); bcrypt_checks counts password checks made.",
	[]string{"reason"}, nil)

var mLoginRefusals = prometheus.NewDesc("kordon_hub_login_refused_total",
	"Dashboard log-ins refused, by reason (login_wrong, login_locked, login_busy, csrf).", []string{"reason"}, nil)

func (r *refusals) Describe(ch chan<- *prometheus.Desc) { ch <- r.desc }

func (r *refusals) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	names := make([]string, 0, len(r.m))
	for k := range r.m {
		names = append(names, k)
	}
	r.mu.Unlock()
	sort.Strings(names)
	for _, k := range names {
		ch <- prometheus.MustNewConstMetric(r.desc, prometheus.CounterValue, float64(r.get(k)), k)
	}
}

// rates holds one token bucket per identity, shared by its sessions.
type rates struct {
	limit rate.Limit
	burst int
	// fixed are the configured identities' buckets, made at start and
	// never changed after: read without the lock, on every PUBLISH of
	// every box.
	fixed map[string]*rate.Limiter
	mu    sync.Mutex
	m     map[string]*rate.Limiter // any other identity's
}

func newRates(limit rate.Limit, burst int, identities ...map[string][]byte) *rates {
	r := &rates{limit: limit, burst: burst, fixed: map[string]*rate.Limiter{}, m: map[string]*rate.Limiter{}}
	for _, set := range identities {
		for id := range set {
			r.fixed[id] = rate.NewLimiter(limit, burst)
		}
	}
	return r
}

func (r *rates) of(identity string) *rate.Limiter {
	if l := r.fixed[identity]; l != nil {
		return l
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.m[identity]
	if l == nil {
		l = rate.NewLimiter(r.limit, r.burst)
		r.m[identity] = l
	}
	return l
}

// authThrottle keeps password checks from becoming a CPU denial of
// service: a bounded number run at once, an address that keeps failing
// waits longer and longer before it is checked again, and a password
// proven recently is recognised by an HMAC instead of another bcrypt.
type authThrottle struct {
	sem    chan struct{}
	key    []byte // HMAC key, random per process: the cache is useless outside it
	mu     sync.Mutex
	recent map[string]recentOK      // identity -> proof of its last good password
	fails  map[string]*addrFailures // address -> failures
	now    func() time.Time
	// failedTime is what failed checks have taken, in all, and
	// failedLongest the longest of them (nanoseconds).
	failedTime, failedLongest atomic.Int64
}

type recentOK struct {
	mac     []byte
	expires time.Time
}

type addrFailures struct {
	n     int
	until time.Time // no check before this
	last  time.Time
}

const (
	recentTTL     = 10 * time.Minute
	freeFailures  = 3 // failures an address may make before back-off
	maxBackoff    = time.Minute
	failureMemory = 10 * time.Minute
	// failedCheckPause: a failed password check holds its slot this many
	// times its own length again, so that failing checks take at most a
	// quarter of a core per slot, whatever their number of addresses.
	failedCheckPause = 3
)

func newAuthThrottle(checks int) *authThrottle {
	k := make([]byte, 32)
	rand.Read(k)
	return &authThrottle{sem: make(chan struct{}, checks), key: k,
		recent: map[string]recentOK{}, fails: map[string]*addrFailures{}, now: time.Now}
}

func (a *authThrottle) mac(identity string, pw []byte) []byte {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(identity))
	m.Write([]byte{0})
	m.Write(pw)
	return m.Sum(nil)
}

// known says whether identity proved this password recently.
func (a *authThrottle) known(identity string, pw []byte) bool {
	a.mu.Lock()
	r, ok := a.recent[identity]
	a.mu.Unlock()
	return ok && a.now().Before(r.expires) && hmac.Equal(r.mac, a.mac(identity, pw))
}

func (a *authThrottle) remember(identity string, pw []byte) {
	m := a.mac(identity, pw)
	a.mu.Lock()
	a.recent[identity] = recentOK{mac: m, expires: a.now().Add(recentTTL)}
	a.mu.Unlock()
}

// backedOff says whether addr must wait before its next check.
func (a *authThrottle) backedOff(addr string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.fails[addr]
	return f != nil && a.now().Before(f.until)
}

// failed records a wrong password from addr: after freeFailures, each
// further failure doubles the wait, up to maxBackoff.
func (a *authThrottle) failed(addr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if len(a.fails) > 10000 { // bound memory against address spraying
		for k, f := range a.fails {
			if now.Sub(f.last) > failureMemory {
				delete(a.fails, k)
			}
		}
		if len(a.fails) > 10000 {
			a.fails = map[string]*addrFailures{}
		}
	}
	f := a.fails[addr]
	if f == nil || now.Sub(f.last) > failureMemory {
		f = &addrFailures{}
		a.fails[addr] = f
	}
	f.n++
	f.last = now
	if f.n > freeFailures {
		wait := min(maxBackoff, time.Second<<min(f.n-freeFailures-1, 6))
		f.until = now.Add(wait)
	}
}

func (a *authThrottle) succeeded(addr string) {
	a.mu.Lock()
	delete(a.fails, addr)
	a.mu.Unlock()
}

// acquire waits for a check slot, at most wait.
func (a *authThrottle) acquire(wait time.Duration) bool {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case a.sem <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

func (a *authThrottle) release() { <-a.sem }

// slotWait is how long a check waits for a slot: 2 s, or longer than a
// failed check holds its slot (its length and the pause after it), so that
// a box whose address just saw a few wrong passwords is not refused for
// the pause alone where checks are slow.
func (a *authThrottle) slotWait() time.Duration {
	return max(2*time.Second, time.Duration(failedCheckPause+2)*time.Duration(a.failedLongest.Load()))
}

// releaseAfter gives the slot back d from now.
func (a *authThrottle) releaseAfter(d time.Duration) { time.AfterFunc(d, a.release) }

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

// guardedListener is the broker's TCP listener with a CONNECT deadline and
// a bound on connections that have not completed CONNECT. mochi's own TCP
// listener sets no deadline before the CONNECT is read, so idle sockets are
// held for ever, and its Close waits for them: hubd could not stop.
type guardedListener struct {
	id, address string
	tlsConfig   *tls.Config
	guard       Guard
	counts      *refusals
	log         *slog.Logger // the broker's, given at Init
	// broker, when set, is whose clients Close disconnects itself (see Close).
	broker *mqtt.Server

	ln      net.Listener
	mu      sync.Mutex
	pend    map[net.Conn]string // not yet authenticated -> remote host
	live    map[net.Conn]bool   // every connection being served, authenticated or not
	per     map[string]int
	accepts map[string]*rate.Limiter // remote host -> its connections per second
	done    bool
}

// maxAcceptHosts bounds the per-address accept buckets against address
// spraying; beyond it the idle ones (a full bucket) are forgotten.
const maxAcceptHosts = 10000

func newGuardedListener(id, address string, tc *tls.Config, g Guard, counts *refusals) *guardedListener {
	return &guardedListener{id: id, address: address, tlsConfig: tc, guard: g, counts: counts,
		pend: map[net.Conn]string{}, live: map[net.Conn]bool{}, per: map[string]int{}, accepts: map[string]*rate.Limiter{}}
}

func (l *guardedListener) ID() string       { return l.id }
func (l *guardedListener) Protocol() string { return "tcp" }
func (l *guardedListener) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.address
}

func (l *guardedListener) Init(log *slog.Logger) error {
	l.log = log
	ln, err := net.Listen("tcp", l.address)
	if err != nil {
		return err
	}
	if l.tlsConfig != nil {
		ln = tls.NewListener(ln, l.tlsConfig)
	}
	l.ln = ln
	return nil
}

func (l *guardedListener) Serve(establish listeners.EstablishFn) {
	for {
		raw, err := l.ln.Accept()
		if err != nil {
			return
		}
		conn := newCorkConn(raw)
		if !l.admit(conn) {
			conn.Close()
			continue
		}
		conn.SetDeadline(time.Now().Add(l.guard.ConnectTimeout))
		go func() {
			err := establish(l.id, conn)
			l.mu.Lock()
			delete(l.live, conn)
			l.mu.Unlock()
			if l.forget(conn) && isTimeout(err) {
				l.counts.add("connect_timeout")
			}
			if err != nil && l.log != nil {
				// What mochi's own listener logs, with a message of its own.
				l.log.Warn("broker connection ended: "+err.Error(), "remote", conn.RemoteAddr().String())
			}
		}()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (l *guardedListener) admit(conn net.Conn) bool {
	host := hostOf(conn.RemoteAddr().String())
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.acceptOK(host) {
		l.counts.add("accept_rate")
		return false
	}
	if l.done || len(l.pend) >= l.guard.PendingConnects || l.per[host] >= l.guard.PendingConnectsPerAddr {
		l.counts.add("pending")
		return false
	}
	l.pend[conn] = host
	l.live[conn] = true
	l.per[host]++
	return true
}

// acceptOK spends one of host's connection tokens. Every attempt spends
// one, refused or not: an address that keeps hammering stays refused until
// it pauses. Called with l.mu held.
func (l *guardedListener) acceptOK(host string) bool {
	now := time.Now()
	if len(l.accepts) >= maxAcceptHosts {
		for h, b := range l.accepts {
			if b.TokensAt(now) >= float64(l.guard.ConnectBurst) {
				delete(l.accepts, h)
			}
		}
		if len(l.accepts) >= maxAcceptHosts {
			l.accepts = map[string]*rate.Limiter{}
		}
	}
	b := l.accepts[host]
	if b == nil {
		b = rate.NewLimiter(rate.Limit(l.guard.ConnectRate), l.guard.ConnectBurst)
		l.accepts[host] = b
	}
	return b.AllowN(now, 1)
}

// forget takes conn off the pending list; true if it was still on it (it
// never completed CONNECT).
func (l *guardedListener) forget(conn net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	host, ok := l.pend[conn]
	if !ok {
		return false
	}
	delete(l.pend, conn)
	if l.per[host]--; l.per[host] <= 0 {
		delete(l.per, host)
	}
	return true
}

// established is called once a client on conn is admitted.
func (l *guardedListener) established(conn net.Conn) { l.forget(conn) }

func (l *guardedListener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	l.done = true
	pending := make([]net.Conn, 0, len(l.pend))
	for c := range l.pend {
		pending = append(pending, c)
	}
	l.mu.Unlock()
	if l.ln != nil {
		l.ln.Close()
	}
	if l.broker != nil {
		// mochi v2.7.9's own closeListenerClients takes the clients' read
		// lock twice (GetByListener calls Len): with a client attaching at
		// that moment, a writer queued between the two deadlocks Close.
		// GetAll takes it once.
		for _, cl := range l.broker.Clients.GetAll() {
			if cl.Net.Listener == l.id && !cl.Closed() {
				_ = l.broker.DisconnectClient(cl, packets.ErrServerShuttingDown)
			}
		}
	} else {
		closeClients(l.id)
	}
	for _, c := range pending {
		c.Close()
	}
	// A connection the broker no longer lists (mochi, when a session is
	// taken over as the old connection ends, can drop the new one's entry
	// while it is connected) was not disconnected above, and mochi's
	// Close waits for its goroutine: closing what is still being served
	// ends them all.
	l.mu.Lock()
	live := make([]net.Conn, 0, len(l.live))
	for c := range l.live {
		live = append(live, c)
	}
	l.mu.Unlock()
	for _, c := range live {
		c.Close()
	}
}
