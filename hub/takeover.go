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

func newTakeoverHook(b *mqtt.Server, log *slog.Logger) *takeoverHook {
	return &takeoverHook{broker: b, log: log, total: map[string]int64{}, warns: map[string]takeoverWarn{}}
}

func (h *takeoverHook) ID() string { return "kordon-takeover" }

func (h *takeoverHook) Provides(b byte) bool { return b == mqtt.OnSessionEstablish }

// OnSessionEstablish runs after authentication, before the broker takes the
// session over from an existing client with the same id.
func (h *takeoverHook) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	old, ok := h.broker.Clients.Get(cl.ID)
	if !ok || old == cl || old.Closed() {
		return
	}
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
