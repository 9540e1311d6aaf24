package hub

import (
	"crypto/tls"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/kordon/kordon/hub/dash"
)

//go:embed live
var liveFS embed.FS

// webHandler serves the BLO dashboard (/dash/, log-in required), the plain
// live page (/live: readings and alerts as they arrive, personal data
// withheld) and a small JSON API. Everything that shows readings or alerts
// needs a dashboard log-in (a session, or a dashboard user's HTTP Basic
// credentials for tools); only health is open: /healthz, /api/counters and
// /metrics, which carry counts and box/device names, never a reading.
func (h *Hub) webHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.Handle("GET /metrics", h.MetricsHandler())
	mux.HandleFunc("GET /api/counters", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, h.Counters()) })
	d, err := h.dashboard()
	if err != nil {
		h.log.Error("dashboard disabled: live page and API closed", "err", err)
		return dash.SecurityHeaders(mux)
	}
	mux.Handle("/dash/", d.Handler())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/dash/", http.StatusSeeOther)
	})
	static, _ := fs.Sub(liveFS, "live")
	mux.Handle("GET /live", d.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := liveFS.ReadFile("live/live.html")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(b)
	}), true))
	mux.Handle("GET /live/", http.StripPrefix("/live/", http.FileServerFS(static)))
	mux.Handle("GET /api/readings", d.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rows, err := h.store.recentReadings(r.Context(), limitParam(r))
		if err != nil {
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		for i := range rows {
			rows[i] = h.auth.redact.envelope(rows[i])
		}
		writeJSON(w, rows)
	}), false))
	mux.Handle("GET /api/alerts", d.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rows, err := h.store.recentAlerts(r.Context(), limitParam(r))
		if err != nil {
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, rows)
	}), false))
	mux.Handle("GET /events", d.Protect(http.HandlerFunc(h.serveEvents), false))
	return dash.SecurityHeaders(mux)
}

// serveHTTP serves the web listener, over TLS when http_tls is set.
func (h *Hub) serveHTTP(ln net.Listener) error {
	if t := h.cfg.HTTPTLS; t != nil {
		h.http.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		return h.http.ServeTLS(ln, t.Cert, t.Key)
	}
	return h.http.Serve(ln)
}

// WebTLS serves the dashboard over HTTPS: the hub's certificate from
// cmd/kordon-certs (hub.pem / hub.key, issued by the crossing CA), or one
// given.
type WebTLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
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
			if e.Name == "reading" {
				e.Data = h.auth.redact.envelope(e.Data)
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
		Store:    dashStore{h.store, h.auth.redact},
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
		// Over TLS the cookies are Secure anyway; behind a TLS proxy too.
		SecureCookies: h.cfg.HTTPTLS != nil,
		Count:         h.auth.web.add,
		Evidence:      h.evidenceAPI(), // behind log-in; the hub checks roles (evidence.go)
		BLO:           h.bloAPI(),      // the BLO network (blo.go), same guards (dash/blo.go)
		DefaultLang:   h.cfg.Language,  // the crossing's language (config: language)
	})
}
