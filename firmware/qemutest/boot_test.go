package qemutest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBootToFirstReading boots the image `make image-vm` built, replays the
// ICAO specimen trace into the guest's emulated FTDI adapter (/dev/ttyUSB0)
// from a host pty, and waits for the reading at a hubd on the host. Then it
// types an MRZ on a QEMU usb-kbd and reads it back through gousb (usbprobe).
func TestBootToFirstReading(t *testing.T) {
	img := filepath.Join(build, "kordon-vm.img")
	fi, err := os.Stat(img)
	if err != nil {
		t.Fatalf("%v (run make image-vm first)", err)
	}
	hub := startHub(t, "booth-01", "secret")
	disk := flashBox(t, img, hub.MQTT, 0)
	vm := startVM(t, disk, vmOpts{usbKbd: true, guestfwd: map[int]int{1883: hub.MQTT}})

	// edged up (healthz through hostfwd)
	up := waitFor(t, 120*time.Second, "edged /healthz", func() bool {
		_, err := httpGet(vm.URL(8081, "/healthz"))
		return err == nil
	})
	t.Logf("edged healthy %.1f s after QEMU start", time.Since(vm.Started).Seconds())
	_ = up
	// gokrazy's own HTTP API (and its unsigned push-update endpoints) must
	// not be reachable from the network: NoPassword keeps it on a unix socket.
	if b, err := httpGet(vm.URL(80, "/update/features")); err == nil {
		t.Errorf("gokrazy's update API answers on the network: %q", b)
	}

	// replay the specimen into the guest's serial port, again and again
	// until a reading arrives (bytes sent before edged opened the port are lost)
	trace := filepath.Join(repo, "drivers/passport/testdata/traces/line-td3-specimen.jsonl")
	replay := exec.Command(bin+"/hwtest", "replay", "-loop", "-port", vm.Serial, trace)
	out, _ := os.Create(filepath.Join(t.TempDir(), "replay.log"))
	replay.Stdout, replay.Stderr = out, out
	if err := replay.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replay.Process.Kill(); replay.Wait() })

	var first map[string]any
	waitFor(t, 90*time.Second, "a reading at the hub", func() bool {
		rs, err := hub.Readings()
		if err != nil || len(rs) == 0 {
			return false
		}
		first = rs[0]
		return true
	})
	bootToReading := time.Since(vm.Started).Seconds()
	b, _ := json.Marshal(first)
	t.Logf("first reading: %.300s", b)
	if first["box"] != "booth-01" {
		t.Errorf("reading from box %v, want booth-01", first["box"])
	}
	used := diskUsage(img)
	fmt.Printf("FIGURE boot-to-first-reading: %.1f s\n", bootToReading)
	fmt.Printf("FIGURE image size: %d MB apparent, %d MB used (sparse), root file system %d MB\n",
		fi.Size()>>20, used>>20, fileSize(filepath.Join(build, "kordon-vm.root.squashfs"))>>20)

	t.Run("usb-kbd through gousb", func(t *testing.T) {
		var st struct {
			Status  string
			Devices []struct {
				VIDPID   string `json:"vid_pid"`
				Keyboard bool
				Product  string
			}
			Lines []string
		}
		get := func() bool {
			b, err := httpGet(vm.URL(8083, "/"))
			if err != nil {
				return false
			}
			return json.Unmarshal(b, &st) == nil
		}
		waitFor(t, 60*time.Second, "usbprobe reading the keyboard", func() bool {
			return get() && strings.HasPrefix(st.Status, "reading keyboard")
		})
		t.Logf("USB devices in the guest (static gousb/libusb): %+v", st.Devices)
		mrz := "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"
		start := time.Now()
		// Under software emulation a busy guest can miss a key (QEMU merges
		// a press and release the guest did not poll in between): type the
		// line up to three times; it must come through exactly once.
		var got []string
		for attempt := 1; attempt <= 3; attempt++ {
			for _, c := range mrz {
				// hold 20 ms, then a gap: a key pressed again while still
				// held would not be a new key press
				if err := vm.Monitor("sendkey " + qemuKey(c) + " 20"); err != nil {
					t.Fatal(err)
				}
				time.Sleep(80 * time.Millisecond)
			}
			vm.Monitor("sendkey ret 20")
			waitFor(t, 30*time.Second, "the typed MRZ line", func() bool {
				return get() && len(st.Lines) >= attempt
			})
			got = st.Lines
			if st.Lines[attempt-1] == mrz {
				break
			}
			t.Logf("attempt %d: typed %q, usbprobe read %q", attempt, mrz, st.Lines[attempt-1])
		}
		if got[len(got)-1] != mrz {
			t.Fatalf("typed %q, usbprobe read %q", mrz, got)
		}
		t.Logf("usb-kbd typed %d keys, read back through gousb in %.1f s", len(mrz)+1, time.Since(start).Seconds())
	})
}

// qemuKey names the QEMU sendkey keys for an MRZ character (US layout).
func qemuKey(c rune) string {
	switch {
	case c >= 'A' && c <= 'Z':
		return "shift-" + strings.ToLower(string(c))
	case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		return string(c)
	case c == '<':
		return "shift-comma"
	}
	return "spc"
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func diskUsage(p string) int64 {
	out, err := exec.Command("du", "-k", p).Output()
	if err != nil {
		return 0
	}
	var k int64
	fmt.Sscan(string(out), &k)
	return k * 1024
}
