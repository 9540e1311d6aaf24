package hub

import (
	"context"
	"time"

	"github.com/kordon/kordon/drivers"
	"github.com/kordon/kordon/hub/watchlist"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/family"
)

// A watchlist hit is raised by ingest itself, not by a CEL rule: the list
// is a secret the rules file must not be able to print, disable or widen,
// and matching needs the hub's key. Which kinds are matched, by which two
// payload fields, and the alert's rule id, each family declares in its
// family.yaml (watchlist:).

// watchState is the hub's watchlist (hub/watchlist), nil list when none is
// configured, and the families' watchlist fields by kind.
type watchState struct {
	list   *watchlist.List
	kinds  map[string]family.Watchlist
	cancel context.CancelFunc
}

func (h *Hub) openWatchlist() error {
	if h.cfg.Watchlist.File == "" && h.cfg.Watchlist.KeyFile == "" {
		return nil
	}
	fams, err := drivers.Families()
	if err != nil {
		return err
	}
	kinds := map[string]family.Watchlist{}
	for _, f := range fams {
		if f.Watchlist != nil {
			kinds[f.Kind] = *f.Watchlist
		}
	}
	l, err := watchlist.Open(h.cfg.Watchlist, h.log.With("part", "watchlist"))
	if err != nil {
		return err
	}
	h.watch.list, h.watch.kinds = l, kinds
	return nil
}

func (h *Hub) startWatchlist() {
	if h.watch.list == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.watch.cancel = cancel
	go h.watch.list.Watch(ctx)
}

func (h *Hub) stopWatchlist() {
	if h.watch.cancel != nil {
		h.watch.cancel()
	}
}

// Watchlist is the loaded watchlist, nil without one. Set its Reloaded
// hook before Start.
func (h *Hub) Watchlist() *watchlist.List { return h.watch.list }

// watchlistAlerts raises one high-severity alert when a reading's number
// and issuing state (the fields its family names) are on the watchlist.
// The alert names the box, the device and the time of the read; the number
// stays in the stored reading (marked personal) and never reaches the alert
// or a log. The number is matched as read, whatever its check digit says: a
// failing check raises its own alert and the document is presented again.
func (h *Hub) watchlistAlerts(p *parsed, now time.Time) []contract.Alert {
	if h.watch.list == nil {
		return nil
	}
	w, ok := h.watch.kinds[p.r.Kind()]
	if !ok {
		return nil
	}
	n, _ := p.payload.get(w.Number)
	i, _ := p.payload.get(w.Issuer)
	number, ok1 := n.(string)
	issuer, ok2 := i.(string)
	if !ok1 || !ok2 {
		return nil // a failed read (no number)
	}
	if !h.watch.list.Match(number, issuer) {
		return nil
	}
	// The id is derived from the crossing and the reading, like a rule's,
	// so a redelivered reading cannot raise a second alert.
	r := &p.r
	return []contract.Alert{{
		Schema: contract.AlertV1, ID: alertID(h.cfg.Crossing, w.Rule, []contract.ReadingRef{p.ref}, p.r.Origin), Crossing: h.cfg.Crossing,
		Box: r.Box, Device: r.Device, Rule: w.Rule, Severity: "high",
		Summary: w.Subject + " on the watchlist presented at " + r.Box + " / " + r.Device + " (" + r.Origin.UTC().Format(time.RFC3339) + ")",
		Time:    r.Origin.UTC(), Raised: now.UTC(), State: "open",
		Readings: []contract.ReadingRef{p.ref},
	}}
}
