package hub

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/kordon/kordon/hub/dash"
	"github.com/kordon/kordon/internal/reading"
)

//go:embed live.html
var livePage []byte

// webHandler serves the BLO dashboard (/dash/, log-in required), the plain
// live page (/live: readings and alerts as they arrive, personal data
// withheld) and a small JSON API.
func (h *Hub) webHandler() http.Handler {
	mux := http.NewServeMux()
	d, err := h.dashboard()
	if err != nil {
		h.log.Error("dashboard disabled", "err", err)
	} else {
		mux.Handle("/dash/", d.Handler())
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/dash/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /live", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(livePage)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.Handle("GET /metrics", h.MetricsHandler())
	mux.HandleFunc("GET /api/readings", func(w http.ResponseWriter, r *http.Request) {
		rows, err := h.store.recentReadings(r.Context(), limitParam(r))
		if err != nil {
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		for i := range rows {
			rows[i] = reading.Redacted(rows[i])
		}
		writeJSON(w, rows)
	})
	mux.HandleFunc("GET /api/alerts", func(w http.ResponseWriter, r *http.Request) {
		rows, err := h.store.recentAlerts(r.Context(), limitParam(r))
		if err != nil {
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, rows)
	})
	mux.HandleFunc("GET /api/counters", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, h.Counters()) })
	mux.HandleFunc("GET /events", h.serveEvents)
	return mux
}

// serveEvents streams live events as server-sent events: first the current
// box states, then readings, alerts and availability as they happen.
func (h *Hub) serveEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	ch, cancel := h.live.subscribe()
	defer cancel()
	for _, s := range h.ingest.snapshot() {
		writeEvent(w, event{Name: "state", Data: s})
	}
	fl.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case e, ok := <-ch:
			if !ok {
				return
			}
			writeEvent(w, e)
			fl.Flush()
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
			fl.Flush()
		}
	}
}

func writeEvent(w http.ResponseWriter, e event) {
	fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Name, e.Data)
}

func limitParam(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || n <= 0 || n > 1000 {
		return 100
	}
	return n
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// dashboard builds the BLO dashboard over the hub's store and live events.
func (h *Hub) dashboard() (*dash.Dash, error) {
	return dash.New(dash.Options{
		Crossing: h.cfg.Crossing,
		Users:    h.cfg.Users,
		Store:    dashStore{h.store},
		States:   h.ingest.snapshot,
		Subscribe: func() (<-chan dash.Event, func()) {
			src, cancel := h.live.subscribe()
			out := make(chan dash.Event, 64)
			go func() {
				defer close(out)
				for e := range src {
					select {
					case out <- dash.Event{Name: e.Name, Data: e.Data}:
					default: // a slow viewer misses readings; alerts come from the store
					}
				}
			}()
			return out, cancel
		},
		Rules:    func() any { return h.Rules() },
		Log:      h.log.With("part", "dash"),
		Commands: h.commandAPI(), // behind log-in, role and CSRF (commands.go)
		BLO:      h.bloAPI(),     // the BLO network (blo.go), same guards (dash/blo.go)
	})
}
