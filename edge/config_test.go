package edge

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kordon/kordon/drivers/all"
	"github.com/kordon/kordon/internal/config"
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
	cfg, devs, err := ParseConfig("edged.yaml", []byte(goodConfig), all.Drivers())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Box != "booth-01" || len(devs) != 1 || devs[0].ID != "reader1" || devs[0].Transport.Path != "/dev/ttyUSB0" {
		t.Errorf("cfg = %+v devs = %+v", cfg, devs)
	}
}

// Every mistake names the file, the line and the field, in plain words.
// Each case plants one mistake in a good config and expects exactly one
// error at that place.
func TestConfigErrorsNameFileLineField(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.pw")
	pem := filepath.Join(dir, "x.pem")
	if err := os.WriteFile(pem, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, from, to string
		line           int
		field, want    string
	}{
		{"unknown top-level field", "state_dir: /tmp/x", "state_dir: /tmp/x\nstate_dri: /tmp/y", 4, "state_dri", "unknown field (did you mean state_dir?)"},
		{"unknown nested field", "  address: tcp", "  adress: tcp", 5, "hub.adress", "unknown field (did you mean address?)"},
		{"field written twice", "box: booth-01", "box: booth-01\nbox: booth-02", 3, "box", "written twice (first on line 2)"},
		{"duration without unit", "  password: pw", "  password: pw\n  keepalive: 20", 8, "hub.keepalive", "20 is not a duration (write 20s)"},
		{"duration garbage", "  password: pw", "  password: pw\n  keepalive: fast", 8, "hub.keepalive", `"fast" is not a duration`},
		{"duration out of range", "  password: pw", "  password: pw\n  keepalive: 2h", 8, "hub.keepalive", "out of range"},
		{"mapping expected", "hub:\n  address: tcp://127.0.0.1:1883\n  username: booth-01\n  password: pw\n", "hub: tcp://127.0.0.1:1883\n", 4, "hub", "want a mapping"},
		{"list expected", "devices:\n  - id: reader1\n    driver: mrz\n    transport: {type: serial, path: /dev/ttyUSB0, baud: 9600}\n    options:\n      framing: line\n", "devices: reader1\n", 8, "devices", "want a list"},
		{"number expected", "baud: 9600", "baud: fast", 11, "devices[0].transport.baud", `"fast" is not a whole number`},
		{"whole number expected", "state_dir: /tmp/x", "state_dir: /tmp/x\noutbox: {max_bytes: 1.5}", 4, "outbox.max_bytes", "1.5 is not a whole number"},
		{"negative outbox bound", "state_dir: /tmp/x", "state_dir: /tmp/x\noutbox: {max_bytes: -1}", 4, "outbox.max_bytes", "-1 is out of range"},
		{"segment above bound", "state_dir: /tmp/x", "state_dir: /tmp/x\noutbox: {max_bytes: 1048576, segment_bytes: 4194304}", 4, "outbox.segment_bytes", "larger than outbox.max_bytes"},
		{"hub address without scheme", "tcp://127.0.0.1:1883", "127.0.0.1:1883", 5, "hub.address", "not a URL with a scheme"},
		{"http hub address", "tcp://127.0.0.1:1883", "http://127.0.0.1:1883", 5, "hub.address", "scheme http is not allowed"},
		{"hub address without port", "tcp://127.0.0.1:1883", "tcp://hub.local", 5, "hub.address", "has no port"},
		{"hub address missing", "  address: tcp://127.0.0.1:1883\n", "", 4, "hub.address", "missing"},
		{"tls file missing", "  address: tcp://127.0.0.1:1883\n  username: booth-01\n  password: pw", "  address: ssl://127.0.0.1:8883\n  tls: {ca: " + missing + ", cert: " + pem + ", key: " + pem + "}", 6, "hub.tls.ca", "nope.pw: no such file"},
		{"password file missing", "  password: pw", "  password_file: " + missing, 7, "hub.password_file", "no such file"},
		{"tls with a plain address", "  password: pw", "  password: pw\n  tls: {ca: " + pem + ", cert: " + pem + ", key: " + pem + "}", 5, "hub.address", "with hub.tls the address is ssl://"},
		{"bad status listen address", "state_dir: /tmp/x", "state_dir: /tmp/x\nhttp: status", 4, "http", "not a listen address"},
		{"box id with space", "box: booth-01", "box: Booth 01", 2, "box", "not a valid id"},
		{"box id with slash", "box: booth-01", "box: booth/01", 2, "box", "no spaces, /, + or #"},
		{"box id with plus", "box: booth-01", "box: booth+", 2, "box", "not a valid id"},
		{"crossing with hash", "crossing: kz-demo", "crossing: 'kz#demo'", 1, "crossing", "not a valid id"},
		{"crossing missing", "crossing: kz-demo\n", "", 1, "crossing", "missing"},
		{"state_dir missing", "state_dir: /tmp/x\n", "", 1, "state_dir", "missing"},
		{"device id with wildcard", "id: reader1", "id: 'reader#1'", 9, "devices[0].id", "not a valid id"},
		{"unknown driver", "driver: mrz", "driver: mrzz", 10, "devices[0].driver", `unknown driver "mrzz" (did you mean mrz?)`},
		{"driver missing", "    driver: mrz\n", "", 9, "devices[0].driver", "missing"},
		{"bad transport", "type: serial, path: /dev/ttyUSB0", "type: serial", 11, "devices[0].transport", "serial transport needs path"},
		{"bad parity", "baud: 9600}", "baud: 9600, parity: mark}", 11, "devices[0].transport", `parity "mark"`},
		{"unknown transport key", "baud: 9600}", "baud: 9600, bauds: 2}", 11, "devices[0].transport.bauds", "did you mean baud?"},
		{"unknown option", "framing: line", "framming: line", 13, "devices[0].options.framming", "unknown option (did you mean framing?)"},
		{"bad option value", "framing: line", "framing: stx-etx-wrong", 13, "devices[0].options.framing", "stx-etx-wrong"},
		{"duplicate device", "      framing: line\n", "      framing: line\n  - id: reader1\n    driver: mrz\n    transport: {type: serial, path: /dev/x}\n", 14, "devices[1].id", `device "reader1" appears twice (also line 9)`},
		{"booth duration", "state_dir: /tmp/x", "state_dir: /tmp/x\nbooth: {clear_after: soon}", 4, "booth.clear_after", "not a positive duration"},
		{"yaml syntax", "box: booth-01", "box: [booth-01", 2, "", "YAML syntax"},
		{"top level is a list", goodConfig, "- crossing: kz-demo\n", 1, "", "want a mapping of settings"},
		{"empty file", goodConfig, "", 1, "", "empty file"},
		{"only comments", goodConfig, "# nothing yet\n", 1, "", "empty file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(goodConfig, c.from, c.to, 1)
			if src == goodConfig {
				t.Fatalf("replacement did not apply")
			}
			_, _, err := ParseConfig("edged.yaml", []byte(src), all.Drivers())
			es := config.List(err)
			if len(es) != 1 {
				t.Fatalf("want exactly one error, got %d:\n%v", len(es), err)
			}
			e := es[0]
			if e.File != "edged.yaml" || e.Line != c.line || e.Field != c.field || !strings.Contains(e.Msg, c.want) {
				t.Errorf("got  %s:%d: %s: %s\nwant edged.yaml:%d: %s: …%s…", e.File, e.Line, e.Field, e.Msg, c.line, c.field, c.want)
			}
			if strings.Contains(e.Msg, "edge.") || strings.Contains(e.Msg, "!!") || strings.Contains(e.Msg, "time.Duration") {
				t.Errorf("message names Go types: %s", e.Msg)
			}
		})
	}
}

// Ten mistakes planted in one file all come out of one run, in line order.
func TestConfigReportsEveryErrorAtOnce(t *testing.T) {
	src := `crossing: KZ demo
box: booth/01
state_dri: /tmp/x
http: status
hub:
  adress: tcp://127.0.0.1:1883
  keepalive: 20
devices:
  - id: reader1
    driver: mrzz
    transport: {type: serial}
  - id: reader1
    driver: mrz
    transport: {type: serial, path: /dev/x, parity: mark}
    options: {framming: line}
`
	_, _, err := ParseConfig("edged.yaml", []byte(src), all.Drivers())
	want := []string{
		"edged.yaml:1: crossing: ",
		"edged.yaml:2: box: ",
		"edged.yaml:3: state_dri: unknown field (did you mean state_dir?)",
		"edged.yaml:4: http: ",
		"edged.yaml:6: hub.adress: unknown field (did you mean address?)",
		"edged.yaml:7: hub.keepalive: 20 is not a duration (write 20s)",
		"edged.yaml:10: devices[0].driver: unknown driver",
		"edged.yaml:11: devices[0].transport: serial transport needs path",
		"edged.yaml:12: devices[1].id: device \"reader1\" appears twice",
		"edged.yaml:14: devices[1].transport: parity",
		"edged.yaml:15: devices[1].options.framming: unknown option",
	}
	es := config.List(err)
	var got []string
	for _, e := range es {
		got = append(got, e.Error())
	}
	// state_dir and hub.address are misspelt, not also reported missing.
	if len(es) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(es), len(want), strings.Join(got, "\n"))
	}
	all := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("missing %q in:\n%s", w, all)
		}
	}
	for i := 1; i < len(es); i++ {
		if es[i].Line < es[i-1].Line {
			t.Errorf("errors not in line order:\n%s", all)
		}
	}
}

func TestMissingConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edged.yaml")
	_, _, err := LoadConfig(path, all.Drivers())
	if err == nil || err.Error() != path+": no such file" {
		t.Errorf("err = %v", err)
	}
}

// The devices file kordon-install takes goes through the same checks.
func TestLoadDevices(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("list.yaml", "- id: reader1\n  driver: mrz\n  transport: {type: serial, path: /dev/ttyUSB0}\n")
	if ds, err := LoadDevices(good, all.Drivers()); err != nil || len(ds) != 1 {
		t.Errorf("bare list: %v %v", ds, err)
	}
	mapped := write("map.yaml", "devices:\n  - id: reader1\n    driver: mrz\n    transport: {type: serial, path: /dev/ttyUSB0}\n")
	if ds, err := LoadDevices(mapped, all.Drivers()); err != nil || len(ds) != 1 {
		t.Errorf("devices: mapping: %v %v", ds, err)
	}
	bad := write("bad.yaml", "- id: reader1\n  drivr: mrz\n  transport: {type: serial, path: /dev/ttyUSB0}\n- id: t1\n  driver: thermometr\n  transport: {type: serial, path: /dev/x}\n")
	_, err := LoadDevices(bad, all.Drivers())
	for _, w := range []string{
		bad + ":2: devices[0].drivr: unknown field (did you mean driver?)",
		bad + ":5: devices[1].driver: unknown driver \"thermometr\"",
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Errorf("errors.As(*config.Error) failed on %T", err)
	}
}

// TestTriggerRuleErrorAtItsLine: a CCTV output's local rule that is not
// valid CEL stops the config at the rule's own line and field; the older
// equality form still loads.
func TestTriggerRuleErrorAtItsLine(t *testing.T) {
	src := goodConfig + `  - id: cctv1
    driver: cctv
    transport: {type: gpio}
    options:
      line: GPIO17
      on:
        - {name: old-form, kind: document, payload: {valid: false}}
        - name: broken
          when: kind == "document" &&
`
	_, _, err := ParseConfig("edged.yaml", []byte(src), all.Drivers())
	if err == nil || !strings.Contains(err.Error(), "edged.yaml:22: devices[1].options.on[1].when: column 22: Syntax error") {
		t.Fatalf("err = %v, want edged.yaml:22: devices[1].options.on[1].when: column 22: Syntax error ...", err)
	}
	src = strings.Replace(src, `when: kind == "document" &&`, `when: kind == "document" && !payload.valid`, 1)
	if _, _, err := ParseConfig("edged.yaml", []byte(src), all.Drivers()); err != nil {
		t.Fatal(err)
	}
}
