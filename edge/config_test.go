package edge

import (
	"strings"
	"testing"

	"github.com/kordon/kordon/drivers/all"
)

const goodConfig = `crossing: kz-demo
box: booth-01
state_dir: /tmp/x
hub:
  address: tcp://127.0.0.1:1883
  username: booth-01
  password: pw
devices:
  - id: reader1
    driver: mrz
    transport: {type: serial, path: /dev/ttyUSB0, baud: 9600}
    options:
      framing: line
`

func TestGoodConfigLoads(t *testing.T) {
	cfg, devs, err := ParseConfig("edged.yaml", []byte(goodConfig), all.Drivers)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Box != "booth-01" || len(devs) != 1 || devs[0].ID != "reader1" || devs[0].Transport.Path != "/dev/ttyUSB0" {
		t.Errorf("cfg = %+v devs = %+v", cfg, devs)
	}
}

// Every mistake names the file, the line and the field.
func TestConfigErrorsNameFileLineField(t *testing.T) {
	cases := []struct {
		name, from, to, want string
	}{
		{"unknown driver", "driver: mrz", "driver: mrzz", `edged.yaml:10: devices[0].driver: unknown driver "mrzz"`},
		{"bad box id", "box: booth-01", "box: Booth 01", `edged.yaml:2: box: must be lower-case`},
		{"missing address", "  address: tcp://127.0.0.1:1883\n", "", `hub.address: missing`},
		{"bad transport", "type: serial, path: /dev/ttyUSB0", "type: serial", `edged.yaml:11: devices[0].transport: serial transport needs path`},
		{"bad parity", "baud: 9600}", "baud: 9600, parity: mark}", `devices[0].transport: parity "mark"`},
		{"unknown option", "framing: line", "framming: line", `edged.yaml:13: framming: unknown option`},
		{"bad option value", "framing: line", "framing: stx-etx-wrong", `edged.yaml:`},
		{"unknown top-level field", "state_dir: /tmp/x", "state_dir: /tmp/x\nstate_dri: /tmp/y", `edged.yaml: line 4: field state_dri not found`},
		{"duplicate device", "      framing: line\n", "      framing: line\n  - id: reader1\n    driver: mrz\n    transport: {type: serial, path: /dev/x}\n", `edged.yaml:14: devices[1].id: device "reader1" appears twice`},
		{"yaml syntax", "box: booth-01", "box: [booth-01", `edged.yaml:`},
	}
	for _, c := range cases {
		src := strings.Replace(goodConfig, c.from, c.to, 1)
		if src == goodConfig {
			t.Fatalf("%s: replacement did not apply", c.name)
		}
		_, _, err := ParseConfig("edged.yaml", []byte(src), all.Drivers)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not contain %q", c.name, err, c.want)
		}
	}
}
