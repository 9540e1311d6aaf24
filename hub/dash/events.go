package dash

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// waker tells every open stream that the alert log has grown.
type waker struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

func newWaker() *waker { return &waker{subs: map[chan struct{}]struct{}{}} }

func (w *waker) subscribe() (chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	w.subs[ch] = struct{}{}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		delete(w.subs, ch)
		w.mu.Unlock()
	}
}

func (w *waker) wake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.subs {
		select {
		case ch <- struct{}{}:
		default: // already due to look
		}
	}
}

// Wake tells open streams to look at the alert log (the hub calls it when
// it stores an alert or a change of one).
func (d *Dash) Wake() { d.wake.wake() }

// pingEvery keeps proxies and NAT tables from closing an idle stream, and
// bounds how stale a viewer can be if a wake-up was lost.
const pingEvery = 15 * time.Second

// alertEvent is the data of one "alert" event: the log entry and the
// alert's state after it.
type alertEvent struct {
	LogEntry
	Alert AlertView `json:"alert"`
}

// events streams the dashboard's live events. Alerts come from the alert
// log, after the client's Last-Event-ID (or ?since= on the first connect),
// so a reconnect replays whatever the viewer missed. Readings and health
// are live only: they are state, refreshed on reconnect.
func (d *Dash) events(w http.ResponseWriter, r *http.Request, _ *session) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	last := int64(-1)
	if s := r.Header.Get("Last-Event-ID"); s != "" {
		last, _ = strconv.ParseInt(s, 10, 64)
	} else if s := r.URL.Query().Get("since"); s != "" {
		last, _ = strconv.ParseInt(s, 10, 64)
	}
	ctx := r.Context()
	if last < 0 { // no position given: live from now
		var err error
		if last, err = d.opt.Store.LastSeq(ctx); err != nil {
			storeErr(w, d.opt.Log, err)
			return
		}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	wake, unwake := d.wake.subscribe()
	defer unwake()
	var hub <-chan Event
	if d.opt.Subscribe != nil {
		ch, cancel := d.opt.Subscribe()
		defer cancel()
		hub = ch
	}
	// retry: a short reconnect delay; the browser reconnects by itself.
	fmt.Fprint(w, "retry: 3000\n\n")
	fmt.Fprintf(w, "event: hello\ndata: {\"seq\":%d}\n\n", last)
	fl.Flush()
	catchUp := func() bool {
		for {
			entries, err := d.opt.Store.LogSince(ctx, last, 200)
			if err != nil {
				d.opt.Log.Warn("dashboard stream: alert log", "err", err)
				return true // try again on the next wake or ping
			}
			views := map[string]AlertView{}
			for _, e := range entries {
				v, ok := views[e.AlertID]
				if !ok {
					if v, _, err = d.opt.Store.Alert(ctx, e.AlertID); err != nil {
						d.opt.Log.Warn("dashboard stream: alert", "id", e.AlertID, "err", err)
						last = e.Seq // an alert that cannot be read is skipped, not retried forever
						continue
					}
					views[e.AlertID] = v
				}
				js, _ := json.Marshal(alertEvent{LogEntry: e, Alert: v})
				if _, err := fmt.Fprintf(w, "id: %d\nevent: alert\ndata: %s\n\n", e.Seq, js); err != nil {
					return false
				}
				last = e.Seq
			}
			fl.Flush()
			if len(entries) < 200 {
				return true
			}
		}
	}
	if !catchUp() {
		return
	}
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
			if !catchUp() {
				return
			}
		case e, ok := <-hub:
			if !ok {
				return
			}
			switch e.Name {
			case "alert", "alert-update":
				if !catchUp() {
					return
				}
			case "reading":
				writeEvent(w, "reading", e.Data)
			case "state", "availability":
				writeEvent(w, "health", e.Data)
			case "rules":
				fmt.Fprint(w, "event: rules\ndata: {}\n\n")
			}
			fl.Flush()
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return
			}
			if !catchUp() {
				return
			}
		}
	}
}

// writeEvent writes data as one SSE event; a payload a box sent
// pretty-printed is split over data: lines, as SSE requires.
func writeEvent(w http.ResponseWriter, name string, data []byte) {
	fmt.Fprintf(w, "event: %s\n", name)
	for _, line := range bytes.Split(bytes.TrimRight(data, "\r\n"), []byte("\n")) {
		fmt.Fprintf(w, "data: %s\n", bytes.TrimRight(line, "\r"))
	}
	fmt.Fprint(w, "\n")
}
