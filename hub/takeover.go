package hub

import (
	"log/slog"
	"sort"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// takeoverHook notices a client id connecting while its session is still
// connected from elsewhere: the broker then drops the older connection.
// A box that reconnects over a half-dead link does this once; two boxes
// given one identity do it every few hundred milliseconds, each knocking
// the other off. mochi logs takeovers only at debug level and names
// neither end, so this names the identity and both remote addresses in a
// warning, counts every takeover, and repeats the warning at most every
// takeoverWarnEvery per identity with the count since.
type takeoverHook struct {
	mqtt.HookBase
	broker *mqtt.Server
	log    *slog.Logger

	mu     sync.Mutex
	total  map[string]int64 // identity -> takeovers since start
	warns  map[string]takeoverWarn
	ending map[*mqtt.Client]*ending // replaced connections being ended (endFirst)
}

// ending is told how a replaced connection's end went: whether the broker
// keeps its session (then the connection does not remove itself).
type ending struct {
	done  chan struct{}
	stays bool // set before done is closed
}

type takeoverWarn struct {
	at      time.Time
	skipped int64
}

const takeoverWarnEvery = 30 * time.Second

// takeoverEndWait bounds how long a new connection waits for the one it
// replaces to end; the old connection's end normally takes microseconds.
const takeoverEndWait = 5 * time.Second

func newTakeoverHook(b *mqtt.Server, log *slog.Logger) *takeoverHook {
	return &takeoverHook{broker: b, log: log, total: map[string]int64{}, warns: map[string]takeoverWarn{},
		ending: map[*mqtt.Client]*ending{}}
}

func (h *takeoverHook) ID() string { return "kordon-takeover" }

func (h *takeoverHook) Provides(b byte) bool {
	return b == mqtt.OnSessionEstablish || b == mqtt.OnDisconnect
}

// OnSessionEstablish runs after authentication, before the broker takes the
// session over from an existing client with the same id.
func (h *takeoverHook) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	old, ok := h.broker.Clients.Get(cl.ID)
	if !ok || old == cl {
		return
	}
	if !old.Closed() {
		h.note(cl, old)
	}
	h.endFirst(old)
}

// note counts a takeover of a connection still open and warns about it.
func (h *takeoverHook) note(cl, old *mqtt.Client) {
	identity := string(cl.Properties.Username)
	if identity == "" {
		identity = cl.ID
	}
	now := time.Now()
	h.mu.Lock()
	h.total[identity]++
	n := h.total[identity]
	w := h.warns[identity]
	warn := w.at.IsZero() || now.Sub(w.at) >= takeoverWarnEvery
	if warn {
		h.warns[identity] = takeoverWarn{at: now}
	} else {
		w.skipped++
		h.warns[identity] = w
	}
	h.mu.Unlock()
	if warn {
		h.log.Warn("one identity connected from two places: the new connection replaced the one still open (two boxes sharing an identity knock each other off like this)",
			"box", identity, "client", cl.ID, "old_remote", old.Net.Remote, "new_remote", cl.Net.Remote,
			"takeovers", n, "unlogged_since_last_warning", w.skipped)
	}
}

// endFirst ends the connection a new one replaces, when its session ends
// with it, and waits until the broker has dropped it from its clients,
// before mochi lists the new connection. Left to mochi, the takeover races:
// the new connection marks the old one taken over and lists itself under
// the client id while the old connection's goroutine may already have
// found it "not taken over" and be on its way to delete that client id
// from the list; it then deletes the new connection's entry, which stays
// connected but unlisted, and nothing published reaches it (its commands)
// until it connects again. Ended first, the old connection removes only
// itself, and mochi then finds no session to take over (there is none to
// inherit: it ended with its connection). Its Will is still recognised as
// superseded (the auth hook holds the new connection as attaching).
//
// It polls the broker's list because mochi tells nothing after it removed
// a client; OnDisconnect, just before, says whether it will.
func (h *takeoverHook) endFirst(old *mqtt.Client) {
	if old.IsTakenOver() || old.Properties.ProtocolVersion < 5 && !old.Properties.Clean {
		return // a session that outlives its connection: it never removes itself
	}
	if old.Closed() && time.Now().Unix()-old.StopTime() > 2 {
		// Ended long ago and still listed: it never got as far as its
		// CONNACK, and no goroutine of it is left to race.
		return
	}
	h.mu.Lock()
	e := h.ending[old]
	if e == nil { // a second connection replacing old at once shares the wait
		e = &ending{done: make(chan struct{})}
		h.ending[old] = e
		defer func() {
			h.mu.Lock()
			delete(h.ending, old)
			h.mu.Unlock()
		}()
	}
	h.mu.Unlock()
	_ = h.broker.DisconnectClient(old, packets.ErrSessionTakenOver) // as mochi's takeover does
	done := e.done
	deadline := time.Now().Add(takeoverEndWait)
	for wait := 50 * time.Microsecond; ; wait = min(2*wait, 10*time.Millisecond) {
		if cur, ok := h.broker.Clients.Get(old.ID); !ok || cur != old {
			return
		}
		if time.Now().After(deadline) {
			h.log.Warn("a replaced connection did not end in time; the new one may end up unlisted by the broker",
				"box", string(old.Properties.Username), "client", old.ID, "waited", takeoverEndWait)
			return
		}
		select {
		case <-done:
			if e.stays {
				return
			}
			done = nil // it will remove itself: wait for that only
		case <-time.After(wait):
		}
	}
}

// OnDisconnect runs on a connection's goroutine after its Will, just
// before mochi removes it from its clients if its session ends with it.
func (h *takeoverHook) OnDisconnect(cl *mqtt.Client, _ error, expire bool) {
	h.mu.Lock()
	e := h.ending[cl]
	h.mu.Unlock()
	if e != nil {
		e.stays = !expire || cl.IsTakenOver()
		close(e.done)
	}
}

// counts returns the takeovers per identity, sorted by identity.
func (h *takeoverHook) counts() (ids []string, n []int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id := range h.total {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		n = append(n, h.total[id])
	}
	return ids, n
}
