package edge

import (
	"fmt"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/logging"
)

func scrape(t *testing.T, b *Box) string {
	t.Helper()
	rec := httptest.NewRecorder()
	b.metricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// deviceSeries lists the kordon_edge_device_* series (name and labels).
func deviceSeries(body string) []string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "kordon_edge_device_up") || strings.HasPrefix(l, "kordon_edge_device_down_reason") {
			out = append(out, l[:strings.LastIndexByte(l, ' ')])
		}
	}
	sort.Strings(out)
	return out
}

func TestDeviceMetricsKeepTheirSeries(t *testing.T) {
	drv := device.Driver{Name: "burst", Kind: "burst", Ports: []device.PortKind{device.Pin}, New: func(device.Config) (device.Device, error) { return &emitThenWait{}, nil }}
	src := fmt.Sprintf("crossing: kz-t\nbox: b1\nstate_dir: %s\nhub: {address: \"tcp://127.0.0.1:1\", username: b1, password: x}\ndevices:\n  - {id: d1, driver: burst, transport: {type: gpio}}\n", t.TempDir())
	cfg, devs, err := ParseConfig("t.yaml", []byte(src), []device.Driver{drv})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg, devs, []device.Driver{drv}, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	b.setAvailability("d1", "up", "", "")
	first := deviceSeries(scrape(t, b))
	for _, r := range []device.Reason{device.Timeout, device.Unplugged, "something the driver made up", device.Errors} {
		b.setAvailability("d1", "down", r, "")
		body := scrape(t, b)
		if got := deviceSeries(body); strings.Join(got, "\n") != strings.Join(first, "\n") {
			t.Fatalf("down %q changed the series:\n%s\nwas:\n%s", r, strings.Join(got, "\n"), strings.Join(first, "\n"))
		}
		want := string(r)
		if r == "something the driver made up" {
			want = "other"
		}
		if !strings.Contains(body, `kordon_edge_device_down_reason{device="d1",reason="`+want+`"} 1`) || !strings.Contains(body, `kordon_edge_device_up{device="d1"} 0`) {
			t.Errorf("down %q not shown:\n%s", r, body)
		}
	}
	if len(first) != 6 {
		t.Errorf("want up + 5 reasons, got %v", first)
	}

	body := scrape(t, b)
	if strings.Contains(body, "kordon_edge_device_last_reading_timestamp_seconds") {
		t.Error("last reading time before any reading")
	}
	at := time.Date(2026, 12, 1, 10, 0, 0, 500e6, time.UTC)
	b.lastReading.Store("d1", at)
	body = scrape(t, b)
	m := regexp.MustCompile(`kordon_edge_device_last_reading_timestamp_seconds\{device="d1"\} (\S+)`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no last reading time:\n%s", grep(body, "last_reading"))
	}
	if v, err := strconv.ParseFloat(m[1], 64); err != nil || v != float64(at.UnixNano())/1e9 {
		t.Errorf("last reading time, want %d.5:\n%s", at.Unix(), grep(body, "last_reading"))
	}
	for _, w := range []string{"go_goroutines ", "go_memstats_alloc_bytes ", "process_resident_memory_bytes ", `kordon_build_info{goversion="go`} {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %q", w)
		}
	}
	if !regexp.MustCompile(`kordon_build_info\{goversion="[^"]+",program="edged",version="[^"]+"\} 1`).MatchString(body) {
		t.Errorf("build info:\n%s", grep(body, "build_info"))
	}
}

func grep(body, s string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
