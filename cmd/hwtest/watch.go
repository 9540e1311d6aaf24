package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// watchFrame is one frame of the box's technician stream (edge/booth.Frame).
type watchFrame struct {
	Device  string          `json:"device"`
	Seq     uint64          `json:"seq"`
	Arrived time.Time       `json:"arrived"`
	RawHex  string          `json:"raw_hex"`
	Reading json.RawMessage `json:"reading"`
}

// watchCmd is the technician's live view of a running box in a terminal:
// each reading as it arrives, the bytes the device sent (hex and ASCII)
// beside what the driver decoded. It reads the box's /booth/watch/events.
func watchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlags("watch", stdout, stderr)
	box := fl.String("box", "", "the box's HTTP address, e.g. http://booth-01:8081 (edged's http:)")
	dev := fl.String("device", "", "only this device (default: every device of the box)")
	asJSON := fl.Bool("json", false, "print each frame as one JSON line instead")
	if err := fl.parse(args); err != nil {
		return err
	}
	if *box == "" || fl.NArg() > 0 {
		return fl.usagef("give -box URL (and nothing else)")
	}
	u, err := url.Parse(strings.TrimRight(*box, "/") + "/booth/watch/events")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-box %q: want the box's address as http://HOST:PORT", *box)
	}
	if *dev != "" {
		u.RawQuery = url.Values{"device": {*dev}}.Encode()
	}
	for first := true; ctx.Err() == nil; first = false {
		err := watchOnce(ctx, u.String(), *asJSON, stdout, stderr)
		if ctx.Err() != nil {
			return nil
		}
		var fatal *watchRefused
		if errors.As(err, &fatal) {
			return fatal
		}
		if first && err != nil && strings.Contains(err.Error(), "connection refused") {
			return fmt.Errorf("%s: %v (is edged running there with http: set?)", *box, err)
		}
		fmt.Fprintf(stderr, "hwtest watch: %v; reconnecting in 1 s\n", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

// watchRefused is an answer that will not change by trying again (no such
// device, not a box).
type watchRefused struct{ msg string }

func (e *watchRefused) Error() string { return e.msg }

// watchOnce reads the stream until it ends. Server-sent events are lines
// of "event: NAME" and "data: JSON" ended by an empty line; reading them
// takes a scanner, not a library.
func watchOnce(ctx context.Context, u string, asJSON bool, stdout, stderr io.Writer) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &watchRefused{fmt.Sprintf("%s: %s: %s", u, resp.Status, strings.TrimSpace(string(b)))}
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return &watchRefused{fmt.Sprintf("%s answers %q, not a live stream: is this an edged box?", u, ct)}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var event, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(line[len("event:"):])
		case strings.HasPrefix(line, "data:"):
			data += strings.TrimSpace(line[len("data:"):])
		case line == "":
			if event == "hello" {
				var h struct {
					Devices []string `json:"devices"`
				}
				json.Unmarshal([]byte(data), &h)
				fmt.Fprintf(stderr, "hwtest watch: connected; devices %s; waiting for readings…\n", strings.Join(h.Devices, ", "))
			} else if event == "frame" {
				if asJSON {
					fmt.Fprintln(stdout, data)
				} else {
					printFrame(stdout, []byte(data))
				}
			}
			event, data = "", ""
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return fmt.Errorf("the box ended the stream")
}

func printFrame(w io.Writer, data []byte) {
	var f watchFrame
	if err := json.Unmarshal(data, &f); err != nil {
		fmt.Fprintf(w, "(unreadable frame: %v)\n", err)
		return
	}
	var r struct {
		Kind    string          `json:"kind"`
		Quality json.RawMessage `json:"quality"`
		Payload json.RawMessage `json:"payload"`
	}
	json.Unmarshal(f.Reading, &r)
	raw, _ := hex.DecodeString(f.RawHex)
	fmt.Fprintf(w, "%s  %s #%d  %s  %d bytes  quality %s\n", f.Arrived.Local().Format("15:04:05.000"), f.Device, f.Seq, r.Kind, len(raw), r.Quality)
	fmt.Fprint(w, indent(hex.Dump(raw), "    "))
	fmt.Fprintf(w, "    decoded: %s\n\n", r.Payload)
}

func indent(s, by string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = by + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}
