package edge

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/logging"
)

// The technicians' listener (/status, /metrics) serves no booth readout,
// and from the network only to a technician's credentials.
func TestTechnicianEndpointsNeedCredentials(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("techpw"), bcrypt.MinCost)
	drv := device.Driver{Name: "burst", Kind: "burst", Ports: []device.PortKind{device.Pin}, New: func(device.Config) (device.Device, error) { return &emitThenWait{}, nil }}
	src := fmt.Sprintf(`crossing: kz-t
box: b1
state_dir: %s
hub: {address: "tcp://127.0.0.1:1", username: b1, password: x}
technicians: [{user: tech, password_hash: %q}]
devices:
  - {id: d1, driver: burst, transport: {type: gpio}}
`, t.TempDir(), hash)
	cfg, devs, err := ParseConfig("t.yaml", []byte(src), []device.Driver{drv})
	if err != nil {
		t.Fatal(err)
	}
	box, err := New(cfg, devs, []device.Driver{drv}, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	h := box.httpHandler()
	get := func(path, remote, user, pw string) int {
		req := httptest.NewRequest("GET", path, nil)
		req.RemoteAddr = remote
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Header().Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: no frame header", path)
		}
		return rec.Code
	}
	for _, p := range []string{"/", "/booth/state", "/booth/events"} {
		if code := get(p, "127.0.0.1:5000", "", ""); code != http.StatusNotFound {
			t.Errorf("technicians' listener serves %s: %d", p, code)
		}
	}
	for _, p := range []string{"/status", "/metrics"} {
		if code := get(p, "10.0.0.9:5000", "", ""); code != http.StatusUnauthorized {
			t.Errorf("%s from the network without credentials = %d", p, code)
		}
		if code := get(p, "10.0.0.9:5000", "tech", "wrong"); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong password = %d", p, code)
		}
		if code := get(p, "10.0.0.8:5000", "tech", "techpw"); code != http.StatusOK {
			t.Errorf("%s for the technician = %d", p, code)
		}
		if code := get(p, "127.0.0.1:5000", "", ""); code != http.StatusOK {
			t.Errorf("%s on the box itself = %d", p, code)
		}
	}
	if code := get("/healthz", "10.0.0.9:5000", "", ""); code != http.StatusOK {
		t.Errorf("/healthz = %d", code)
	}
}
