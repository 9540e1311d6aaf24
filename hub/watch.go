package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"github.com/kordon/kordon/hub/watchlist"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/reading"
)

// WatchlistRule is the rule id of a watchlist hit. The alert is raised by
// ingest itself, not by a CEL rule: the list is a secret the rules file
// must not be able to print, disable or widen, and matching needs the
// hub's key.
const WatchlistRule = "document-watchlist"

// watchState is the hub's watchlist (hub/watchlist), nil list when none is
// configured.
type watchState struct {
	list   *watchlist.List
	cancel context.CancelFunc
}

func (h *Hub) openWatchlist() error {
	if h.cfg.Watchlist.File == "" && h.cfg.Watchlist.KeyFile == "" {
		return nil
	}
	l, err := watchlist.Open(h.cfg.Watchlist, h.log.With("part", "watchlist"))
	if err != nil {
		return err
	}
	h.watch.list = l
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

// watchlistAlerts raises one high-severity alert when a document reading's
// number and issuing state are on the watchlist. The alert names the box,
// the device and the time of the read; the document number stays in the
// stored reading (marked personal) and never reaches the alert or a log.
// The number is matched as read, whatever its check digit says: a failing
// check raises its own alert and the document is presented again.
func (h *Hub) watchlistAlerts(r *reading.Reading, payload json.RawMessage, now time.Time) []contract.Alert {
	if h.watch.list == nil || r.Kind() != "document" {
		return nil
	}
	var doc struct {
		Number *string `json:"number"`
		Issuer *string `json:"issuer"`
	}
	if json.Unmarshal(payload, &doc) != nil || doc.Number == nil || doc.Issuer == nil {
		return nil // a failed read (no number), or not an MRZ
	}
	if !h.watch.list.Match(*doc.Number, *doc.Issuer) {
		return nil
	}
	// The id is derived from the reading, so a redelivered reading cannot
	// raise a second alert (computed here so rules.go can change freely).
	id := sha256.Sum256([]byte(r.Box + "\x00" + r.Device + "\x00" + strconv.FormatUint(r.Seq, 10) + "\x00" + WatchlistRule))
	return []contract.Alert{{
		Schema: contract.AlertV1, ID: hex.EncodeToString(id[:10]), Crossing: h.cfg.Crossing,
		Box: r.Box, Device: r.Device, Rule: WatchlistRule, Severity: "high",
		Summary: "Document on the watchlist presented at " + r.Box + " / " + r.Device + " (" + r.Origin.UTC().Format(time.RFC3339) + ")",
		Time:    r.Origin.UTC(), Raised: now.UTC(), State: "open",
		Readings: []contract.ReadingRef{{Box: r.Box, Device: r.Device, Seq: r.Seq}},
	}}
}
