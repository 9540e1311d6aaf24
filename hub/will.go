package hub

import (
	"bytes"
	"log/slog"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/kordon/kordon/internal/contract"
)

// willHook shows a box's Will in the hub's box health. mochi publishes a
// Will inside the broker, past every OnPublish hook, so ingest never sees
// it; the auth hook has already allowed only a box's own offline state
// (willOK, OnWill), so what reaches here is taken as the box's state.
type willHook struct {
	mqtt.HookBase
	broker   *mqtt.Server
	crossing string
	ingest   *ingestHook
	auth     *authHook // knows the sessions admitted but not yet listed
	log      *slog.Logger
}

func (h *willHook) ID() string { return "kordon-will" }

func (h *willHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnWill, mqtt.OnWillSent}, []byte{b})
}

// OnWill drops the Will of a connection its box has replaced (a reconnect
// over a half-dead link): mochi sends it when the old connection's read
// ends, which can be after the new one announced the box online, and the
// box is not offline.
func (h *willHook) OnWill(cl *mqtt.Client, w mqtt.Will) (mqtt.Will, error) {
	if h.superseded(cl) {
		w.TopicName = contract.Prefix + "/" + h.crossing + "/hub/superseded-will"
		w.Retain, w.Payload = false, nil
	}
	return w, nil
}

func (h *willHook) OnWillSent(cl *mqtt.Client, pk packets.Packet) {
	if cl.Net.Inline {
		return
	}
	box := string(cl.Properties.Username)
	t, ok := contract.Parse(pk.TopicName)
	if !ok || t.Box != box || t.Leaf != "state" || t.Device != "" {
		return // a refused Will, sent nowhere that matters
	}
	if h.superseded(cl) { // replaced while its Will was on its way
		return
	}
	if inc := h.ingest.states.put(pk.TopicName, t.Leaf, pk.Payload); inc != "" {
		if err := h.ingest.commit.Do(&job{kind: jobIncarnation, ref: contract.ReadingRef{Box: box, Incarnation: inc}, received: time.Now()}); err != nil {
			h.log.Warn("incarnation not recorded", "box", box, "err", err)
		}
	}
}

// superseded says whether cl's box has connected again since. mochi
// stops the old connection (which sends its Will) before it marks it taken
// over or lists the new one under the same id, so the new one is also
// looked for among the sessions the auth hook admitted and mochi has not
// listed yet.
func (h *willHook) superseded(cl *mqtt.Client) bool {
	if cl.IsTakenOver() || h.auth.attaching(cl) {
		return true
	}
	cur, ok := h.broker.Clients.Get(cl.ID)
	return ok && cur != cl && !cur.Closed()
}
