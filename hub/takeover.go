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

	mu    sync.Mutex
	total map[string]int64 // identity -> takeovers since start
	warns map[string]takeoverWarn
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
	return &takeoverHook{broker: b, log: log, total: map[string]int64{}, warns: map[string]takeoverWarn{}}
}

func (h *takeoverHook) ID() string { return "kordon-takeover" }

func (h *takeoverHook) Provides(b byte) bool { return b == mqtt.OnSessionEstablish }

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
	// Another connection may be listed meanwhile (a third one of the id):
	// it is ended too, within the same bound.
	deadline := time.Now().Add(takeoverEndWait)
	for ok && old != cl && endsWithConnection(old) && !old.IsTakenOver() && h.endFirst(old, deadline) {
		old, ok = h.broker.Clients.Get(cl.ID)
	}
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

// endsWithConnection says whether mochi removes cl's session when its
// connection ends: MQTT 3.1.1's clean session, as boxes connect. It reads
// only what CONNECT set and nothing changes later; an MQTT 5 session (an
// expiry interval its DISCONNECT may change) is left to mochi.
func endsWithConnection(cl *mqtt.Client) bool {
	return cl.Properties.ProtocolVersion < 5 && cl.Properties.Clean
}

// endFirst ends the connection a new one replaces and waits until mochi
// has dropped it from its clients, before mochi lists the new connection;
// it reports whether old is gone. Left to mochi, the takeover races: the
// new connection marks the old one taken over and lists itself under the
// client id while the old connection's goroutine may already have found
// it "not taken over" and be on its way to delete that client id from the
// list; it then deletes the new connection's entry, which stays connected
// but unlisted, and nothing published reaches it (its commands) until it
// connects again. Ended first, the old connection removes only itself,
// and mochi then finds no session to take over (there is none to inherit:
// it ended with its connection). Its Will is still taken as superseded
// (the auth hook holds the new connection as attaching).
//
// It polls the list because mochi tells nothing once it has removed a
// client; that takes microseconds after the connection is closed.
func (h *takeoverHook) endFirst(old *mqtt.Client, deadline time.Time) bool {
	if old.Closed() && time.Now().Unix()-old.StopTime() > 2 {
		// Ended long ago and still listed: it never got as far as its
		// CONNACK, and no goroutine of it is left to race.
		return false
	}
	_ = h.broker.DisconnectClient(old, packets.ErrSessionTakenOver) // as mochi's takeover does
	for wait := 50 * time.Microsecond; ; wait = min(2*wait, 10*time.Millisecond) {
		if cur, ok := h.broker.Clients.Get(old.ID); !ok || cur != old {
			return true
		}
		if time.Now().After(deadline) {
			h.log.Warn("a replaced connection did not end in time; the new one may end up unlisted by the broker",
				"box", string(old.Properties.Username), "client", old.ID, "waited", takeoverEndWait)
			return false
		}
		time.Sleep(wait)
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
