// Command usbprobe proves that gousb (cgo + a static, udev-free libusb) works
// inside the gokrazy image: it lists the USB devices it sees and, for a HID
// boot keyboard (e.g. QEMU's usb-kbd, or a passport reader in keyboard-wedge
// mode), detaches the kernel driver, reads key reports and decodes them into
// lines (CR/Enter ends a line), as a wedge-mode MRZ reader types them.
//
// Results: GET http://BOX:8083/ (JSON: devices and lines typed so far).
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"sync"
	"time"

	"github.com/google/gousb"
)

type device struct {
	VIDPID   string `json:"vid_pid"`
	Class    string `json:"class"`
	Product  string `json:"product,omitempty"`
	Keyboard bool   `json:"keyboard"`
}

var (
	mu      sync.Mutex
	devices []device
	lines   []string
	cur     []byte
	status  = "starting"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"status": status, "devices": devices, "lines": lines, "partial": string(cur)})
	})
	go func() { log.Fatal(http.ListenAndServe(":8083", nil)) }()
	for {
		if err := probe(); err != nil {
			mu.Lock()
			status = err.Error()
			mu.Unlock()
			log.Print(err)
		}
		time.Sleep(2 * time.Second)
	}
}

func probe() error {
	ctx := gousb.NewContext()
	defer ctx.Close()
	var kbd *gousb.DeviceDesc
	var found []device
	devs, err := ctx.OpenDevices(func(d *gousb.DeviceDesc) bool {
		dv := device{VIDPID: fmt.Sprintf("%s:%s", d.Vendor, d.Product), Class: d.Class.String()}
		for _, cfg := range d.Configs {
			for _, intf := range cfg.Interfaces {
				for _, alt := range intf.AltSettings {
					if alt.Class == gousb.ClassHID && alt.SubClass == 1 && alt.Protocol == 1 {
						dv.Keyboard = true
						if kbd == nil {
							kbd = d
						}
					}
				}
			}
		}
		found = append(found, dv)
		return kbd == d
	})
	mu.Lock()
	devices = found
	status = fmt.Sprintf("%d USB device(s)", len(found))
	mu.Unlock()
	defer func() {
		for _, d := range devs {
			d.Close()
		}
	}()
	if err != nil && len(devs) == 0 {
		return fmt.Errorf("listing USB devices: %v", err)
	}
	if len(devs) == 0 {
		return nil
	}
	d := devs[0]
	if p, err := d.Product(); err == nil {
		mu.Lock()
		for i := range devices {
			if devices[i].Keyboard {
				devices[i].Product = p
			}
		}
		mu.Unlock()
	}
	d.SetAutoDetach(true)
	intf, done, err := d.DefaultInterface()
	if err != nil {
		return fmt.Errorf("claiming keyboard: %v", err)
	}
	defer done()
	var in *gousb.InEndpoint
	for _, ep := range intf.Setting.Endpoints {
		if ep.Direction == gousb.EndpointDirectionIn {
			in, err = intf.InEndpoint(ep.Number)
			if err != nil {
				return err
			}
			break
		}
	}
	if in == nil {
		return fmt.Errorf("keyboard has no IN endpoint")
	}
	mu.Lock()
	status = "reading keyboard " + devices[0].VIDPID
	mu.Unlock()
	log.Printf("reading HID keyboard reports")
	// several transfers in flight, so the endpoint is polled while a report
	// is being decoded (a keyboard's press/release pairs must not merge)
	stream, err := in.NewStream(in.Desc.MaxPacketSize, 8)
	if err != nil {
		return fmt.Errorf("keyboard stream: %v", err)
	}
	defer stream.Close()
	buf := make([]byte, in.Desc.MaxPacketSize)
	var prev [6]byte
	for {
		n, err := stream.Read(buf)
		if err != nil {
			return fmt.Errorf("reading keyboard: %v", err)
		}
		if n < 8 {
			continue
		}
		shift := buf[0]&0x22 != 0
		var now [6]byte
		copy(now[:], buf[2:8])
		for _, u := range now {
			if u == 0 || contains(prev, u) {
				continue // only newly pressed keys
			}
			key(u, shift)
		}
		prev = now
	}
}

func contains(a [6]byte, u byte) bool {
	for _, x := range a {
		if x == u {
			return true
		}
	}
	return false
}

// key decodes a HID usage (US layout) into the current line.
func key(u byte, shift bool) {
	mu.Lock()
	defer mu.Unlock()
	switch {
	case u >= 0x04 && u <= 0x1d: // a-z
		c := 'a' + rune(u-0x04)
		if shift {
			c -= 'a' - 'A'
		}
		cur = append(cur, byte(c))
	case u >= 0x1e && u <= 0x26: // 1-9
		cur = append(cur, byte('1'+u-0x1e))
	case u == 0x27:
		cur = append(cur, '0')
	case u == 0x36: // , and < (shift)
		if shift {
			cur = append(cur, '<')
		} else {
			cur = append(cur, ',')
		}
	case u == 0x2c:
		cur = append(cur, ' ')
	case u == 0x28 || u == 0x58: // Enter, keypad Enter
		lines = append(lines, string(cur))
		log.Printf("typed line: %q", cur)
		cur = nil
	}
}
