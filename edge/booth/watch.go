package booth

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/kordon/kordon/internal/reading"
)

// Frame is one reading as the technician's view shows it: the bytes the
// device sent beside what the driver decoded from them.
type Frame struct {
	Device  string          `json:"device"`
	Seq     uint64          `json:"seq"`
	Origin  time.Time       `json:"origin"`
	Arrived time.Time       `json:"arrived"`
	RawHex  string          `json:"raw_hex"`
	Reading json.RawMessage `json:"reading"` // envelope without raw, personal data included
}

// watchLocked hands a reading to the technicians watching its device. A
// watcher that cannot keep up misses frames; the device's loop never waits.
func (b *Booth) watchLocked(r *reading.Reading, env []byte) {
	if len(b.watchers) == 0 {
		return
	}
	js, _ := json.Marshal(Frame{Device: r.Device, Seq: r.Seq, Origin: r.Origin.UTC(), Arrived: time.Now().UTC(),
		RawHex: hex.EncodeToString(r.Raw), Reading: env})
	for ch, dev := range b.watchers {
		if dev != "" && dev != r.Device {
			continue
		}
		select {
		case ch <- js:
		default:
		}
	}
}

func (b *Booth) watch(device string) (chan []byte, func()) {
	ch := make(chan []byte, 64)
	b.mu.Lock()
	b.watchers[ch] = device
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.watchers, ch)
		b.mu.Unlock()
	}
}

// watchEvents streams frames as they arrive (?device= one device). It
// starts with the box's device list, so a viewer knows what it may watch.
func (b *Booth) watchEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	dev := r.URL.Query().Get("device")
	b.mu.Lock()
	var ids []string
	for id := range b.devices {
		ids = append(ids, id)
	}
	b.mu.Unlock()
	sort.Strings(ids)
	known := dev == ""
	for _, id := range ids {
		known = known || id == dev
	}
	if !known {
		http.Error(w, fmt.Sprintf("no device %q on this box", dev), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	ch, cancel := b.watch(dev)
	defer cancel()
	head, _ := json.Marshal(map[string]any{"devices": ids, "device": dev})
	fmt.Fprintf(w, "retry: 1000\nevent: hello\ndata: %s\n\n", head)
	fl.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case js := <-ch:
			fmt.Fprintf(w, "event: frame\ndata: %s\n\n", js)
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
		}
		fl.Flush()
	}
}
