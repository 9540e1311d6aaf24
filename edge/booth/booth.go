// Package booth is the booth readout edged serves on the box: the reading
// each device of this booth just produced, in large type for the officer at
// the window, live, and working while the hub is unreachable (it is fed on
// the box, before the outbox forwards anything).
//
// It is the officer's own screen, so it shows the document's personal data;
// it keeps that data only in memory and clears every reading a configurable
// time after it arrived (clear_after), so the next traveller does not see
// the last one's. It logs nothing about what it shows.
package booth

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"sort"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/i18n"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/reading"
)

//go:embed web
var webFS embed.FS

// Config is the booth section of edged's config (docs/screens.md).
type Config struct {
	// ClearAfter is how long a reading stays on screen; default 60s.
	ClearAfter Duration `yaml:"clear_after"`
	// Lang is the screen's starting language (ru, en, ...); default ru.
	// The officer can switch with the buttons on screen.
	Lang string `yaml:"lang"`
	// Title names the booth on screen; default the box id.
	Title string `yaml:"title"`
	// Listen is the readout's own listener, apart from the technicians'
	// status endpoints; default 127.0.0.1:8090, the box's own screen only.
	// It shows personal data, so any other address needs a screen token.
	Listen string `yaml:"listen"`
	// ScreenTokenFile holds the screen's token (one line, at least 32
	// characters). The screen opens /?screen=TOKEN once; the readout then
	// keeps it in a cookie and serves nothing to a browser without it.
	ScreenTokenFile string `yaml:"screen_token_file"`
}

// DefaultListen is the readout's listener when listen is not set.
const DefaultListen = "127.0.0.1:8090"

// Duration is a YAML duration such as "45s".
type Duration time.Duration

// UnmarshalYAML reads a Go duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v <= 0 {
		return fmt.Errorf("line %d: booth.clear_after: %q is not a positive duration (e.g. 45s)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// DefaultClearAfter is used when clear_after is not set.
const DefaultClearAfter = 60 * time.Second

// Booth keeps the latest state of every device of the box.
type Booth struct {
	title      string
	lang       string
	clearAfter time.Duration

	mu      sync.Mutex
	devices map[string]*device
	subs    map[chan []byte]struct{}
	hub     hubLink
	// watchers get every reading with its raw bytes (the technician's
	// view, /booth/watch); nothing of it is kept once sent.
	watchers map[chan []byte]string // -> device watched ("" = all)
}

// hubLink is whether the box is delivering to the hub: when it is not, the
// BLO does not see what this booth reads, and the officer must be told.
type hubLink struct {
	State string    `json:"state"` // connected | lost | never
	Since time.Time `json:"since"`
}

type device struct {
	ID       string                       `json:"device"`
	Kind     string                       `json:"kind,omitempty"`
	Avail    *contract.DeviceAvailability `json:"availability,omitempty"`
	Reading  json.RawMessage              `json:"reading,omitempty"` // envelope, personal data included, raw bytes removed
	Seq      uint64                       `json:"seq,omitempty"`
	ShownAt  time.Time                    `json:"shown_at,omitzero"`
	ClearsAt time.Time                    `json:"clears_at,omitzero"`
	Cleared  bool                         `json:"cleared,omitempty"`

	timer *time.Timer
}

// New builds a booth readout for box.
func New(box string, cfg Config) *Booth {
	b := &Booth{title: cfg.Title, lang: cfg.Lang, clearAfter: time.Duration(cfg.ClearAfter),
		devices: map[string]*device{}, subs: map[chan []byte]struct{}{}, watchers: map[chan []byte]string{},
		hub: hubLink{State: "never", Since: time.Now().UTC()}}
	if b.title == "" {
		b.title = box
	}
	if b.lang == "" {
		b.lang = "ru"
	}
	if b.clearAfter <= 0 {
		b.clearAfter = DefaultClearAfter
	}
	return b
}

func (b *Booth) dev(id string) *device {
	d := b.devices[id]
	if d == nil {
		d = &device{ID: id}
		b.devices[id] = d
	}
	return d
}

// Reading shows a stamped reading, encoding it first (Show is the box's
// path, which has the envelope already).
func (b *Booth) Reading(r reading.Reading) {
	if b == nil {
		return
	}
	env, err := r.MarshalJSON()
	if err != nil {
		return
	}
	b.Show(&r, env)
}

// Show shows a stamped reading whose envelope is env. It never blocks the
// device's loop: a screen that cannot keep up misses intermediate states,
// not the latest. env is not changed or kept beyond what is shown.
func (b *Booth) Show(r *reading.Reading, env []byte) {
	if b == nil {
		return
	}
	env = withoutRaw(env, len(r.Raw) > 0) // evidence bytes: nothing for an officer to read
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.watchLocked(r, env)
	d := b.dev(r.Device)
	d.Kind, d.Reading, d.Seq, d.ShownAt, d.ClearsAt, d.Cleared = r.Kind(), env, r.Seq, now, now.Add(b.clearAfter), false
	if d.timer != nil {
		d.timer.Stop()
	}
	dev, seq := r.Device, r.Seq
	d.timer = time.AfterFunc(b.clearAfter, func() { b.clear(dev, seq) })
	b.publishLocked(d)
}

// withoutRaw cuts the "raw" member out of an envelope written by
// reading.MarshalJSON, in a new slice. It is cut by position rather than
// by decoding and encoding the envelope again: that encoder writes raw
// (base64, so no quote inside) after the payload and before only the
// personal pointers, so its last `,"raw":"` is the member. Anything else
// is handed back whole only when it has no raw member at all.
func withoutRaw(env []byte, hasRaw bool) []byte {
	if !hasRaw {
		return env
	}
	const key = `,"raw":"`
	i := bytes.LastIndex(env, []byte(key))
	if i < 0 {
		return env
	}
	j := bytes.IndexByte(env[i+len(key):], '"')
	if j < 0 {
		return nil
	}
	j += i + len(key) + 1
	out := make([]byte, 0, len(env)-(j-i))
	return append(append(out, env[:i]...), env[j:]...)
}

// clear removes a reading from the screen and from memory, unless a newer
// one has replaced it.
func (b *Booth) clear(id string, seq uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.devices[id]
	if d == nil || d.Seq != seq || d.Reading == nil {
		return
	}
	d.Reading, d.ClearsAt, d.Cleared = nil, time.Time{}, true
	b.publishLocked(d)
}

// Availability shows whether a device is up, and why not.
func (b *Booth) Availability(a contract.DeviceAvailability) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.dev(a.Device)
	d.Avail = &a
	b.publishLocked(d)
}

// Hub tells the screen whether the box is connected to the hub.
func (b *Booth) Hub(connected bool) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	state := "lost"
	if connected {
		state = "connected"
	} else if b.hub.State == "never" {
		return // still trying for the first time: "never" stays, with its time
	}
	if b.hub.State == state {
		return
	}
	b.hub = hubLink{State: state, Since: time.Now().UTC()}
	js, _ := json.Marshal(struct {
		Hub hubLink `json:"hub"`
	}{b.hub})
	b.sendLocked(js)
}

func (b *Booth) publishLocked(d *device) {
	if len(b.subs) == 0 {
		return // no screen open: nothing to render
	}
	js, _ := json.Marshal(d)
	b.sendLocked(js)
}

func (b *Booth) sendLocked(js []byte) {
	for ch := range b.subs {
		select {
		case ch <- js:
		default:
			// The viewer is behind: it gets a fresh snapshot instead.
			select {
			case <-ch:
			default:
			}
			select {
			case ch <- nil:
			default:
			}
		}
	}
}

type snapshot struct {
	Title        string    `json:"title"`
	Lang         string    `json:"lang"`
	ClearAfterMS int64     `json:"clear_after_ms"`
	Now          time.Time `json:"now"`
	Hub          hubLink   `json:"hub"`
	Devices      []*device `json:"devices"`
}

func (b *Booth) snapshot() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := snapshot{Title: b.title, Lang: b.lang, ClearAfterMS: b.clearAfter.Milliseconds(), Now: time.Now().UTC(), Hub: b.hub, Devices: []*device{}}
	for _, d := range b.devices {
		s.Devices = append(s.Devices, d)
	}
	sort.Slice(s.Devices, func(i, j int) bool { return s.Devices[i].ID < s.Devices[j].ID })
	js, _ := json.Marshal(s)
	return js
}

func (b *Booth) subscribe() (chan []byte, func()) {
	ch := make(chan []byte, 32)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

// Close stops the clear timers.
func (b *Booth) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, d := range b.devices {
		if d.timer != nil {
			d.timer.Stop()
		}
	}
}

// ServeHTTP serves the readout: / (the page), /booth/events (live),
// /booth/state (a snapshot), /booth/families.js (each family's view),
// /booth/static/ and /booth/i18n/.
func (b *Booth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.handler().ServeHTTP(w, r)
}

var (
	static, _ = fs.Sub(webFS, "web")
	i18nH     = http.StripPrefix("/booth/i18n/", i18n.Handler())
	staticH   = http.StripPrefix("/booth/static/", http.FileServerFS(static))
)

func (b *Booth) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// Personal data: never cached, never framed, never sent as a referrer.
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "read-only screen", http.StatusMethodNotAllowed)
			return
		}
		switch p := r.URL.Path; {
		case p == "/" || p == "/booth" || p == "/booth/":
			page, _ := webFS.ReadFile("web/booth.html")
			h.Set("Content-Type", "text/html; charset=utf-8")
			w.Write(page)
		case p == "/booth/families.js":
			js, err := familiesScript()
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			h.Set("Content-Type", "text/javascript; charset=utf-8")
			w.Write(js)
		case p == "/booth/state":
			h.Set("Content-Type", "application/json")
			w.Write(b.snapshot())
		case p == "/booth/events":
			b.events(w, r)
		case p == "/booth/watch":
			page, _ := webFS.ReadFile("web/watch.html")
			h.Set("Content-Type", "text/html; charset=utf-8")
			w.Write(page)
		case p == "/booth/watch/events":
			b.watchEvents(w, r)
		case len(p) > len("/booth/i18n/") && p[:len("/booth/i18n/")] == "/booth/i18n/":
			i18nH.ServeHTTP(w, r)
		case len(p) > len("/booth/static/") && p[:len("/booth/static/")] == "/booth/static/":
			staticH.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

// events streams a snapshot, then each device change. After a reconnect the
// browser gets a fresh snapshot: the screen shows state, not history.
func (b *Booth) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	ch, cancel := b.subscribe()
	defer cancel()
	fmt.Fprintf(w, "retry: 1000\nevent: snapshot\ndata: %s\n\n", b.snapshot())
	fl.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case js := <-ch:
			if js == nil {
				fmt.Fprintf(w, "event: snapshot\ndata: %s\n\n", b.snapshot())
			} else if bytes.HasPrefix(js, []byte(`{"hub":`)) {
				fmt.Fprintf(w, "event: hub\ndata: %s\n\n", js)
			} else {
				fmt.Fprintf(w, "event: device\ndata: %s\n\n", js)
			}
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
		}
		fl.Flush()
	}
}
