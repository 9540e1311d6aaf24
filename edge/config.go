package edge

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/edge/booth"
	"github.com/kordon/kordon/internal/config"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/gpioline"
	"github.com/kordon/kordon/internal/transport"
	"github.com/kordon/kordon/internal/usbhid/libusb"
)

// Config is a box's configuration file (docs/edged.md).
type Config struct {
	Crossing string        `yaml:"crossing"`
	Box      string        `yaml:"box"`
	StateDir string        `yaml:"state_dir"` // sequence numbers and the outbox
	HTTP     string        `yaml:"http"`      // status page and /healthz, e.g. ":8081"; empty = off
	Hub      HubConfig     `yaml:"hub"`
	Outbox   OutboxConfig  `yaml:"outbox"`
	Devices  []DeviceEntry `yaml:"devices"`
	Booth    booth.Config  `yaml:"booth"` // the booth readout (edge/booth, docs/screens.md)
	// LogLevel is debug, info (the default), warn or error; -log-level overrides it.
	LogLevel string `yaml:"log_level"`
	// Technicians may read /status and /metrics from the network (web.go).
	Technicians []Technician `yaml:"technicians"`

	file string
}

// HubConfig says where and as whom the box connects.
type HubConfig struct {
	Address  string `yaml:"address"` // tcp://host:1883, ssl://host:8883, ws://...
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// PasswordFile, when set, holds the password (kept off the config file).
	PasswordFile string `yaml:"password_file"`
	// TLS, when set, connects with this box's client certificate (mutual
	// TLS, docs/security.md); the address is then ssl://host:8883.
	TLS *TLSConfig `yaml:"tls"`
	// KeepAlive and MaxReconnectInterval tune how fast a dead link is
	// noticed and retried; defaults 20s and 15s.
	KeepAlive            time.Duration `yaml:"keepalive"`
	MaxReconnectInterval time.Duration `yaml:"max_reconnect_interval"`
}

// TLSConfig names PEM files: the crossing CA, this box's certificate and key.
type TLSConfig struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// OutboxConfig bounds the durable outbox (docs/delivery.md).
type OutboxConfig struct {
	MaxBytes     int64 `yaml:"max_bytes"`     // default 256 MiB
	SegmentBytes int64 `yaml:"segment_bytes"` // default 4 MiB
}

// DeviceEntry is one device wired to the box.
type DeviceEntry struct {
	ID        string           `yaml:"id"`
	Driver    string           `yaml:"driver"`
	Transport transport.Config `yaml:"transport"`
	Options   yaml.Node        `yaml:"options"`

	line int
}

// hubSchemes are the hub address schemes paho connects with.
var hubSchemes = []string{"tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss"}

// LoadConfig reads and validates a box config. Every mistake is reported at
// once, each naming the file, the line and the field (config.Errors).
func LoadConfig(path string, drivers []device.Driver) (*Config, []device.Config, error) {
	var c Config
	return c.check(config.Load(path, &c), drivers)
}

// ParseConfig is LoadConfig on bytes already read; path names them in errors.
func ParseConfig(path string, b []byte, drivers []device.Driver) (*Config, []device.Config, error) {
	var c Config
	return c.check(config.Parse(path, b, &c), drivers)
}

func (c *Config) check(d *config.Doc, drivers []device.Driver) (*Config, []device.Config, error) {
	if d.Failed() {
		return nil, nil, d.Err()
	}
	c.file = d.File
	d.ID("crossing", c.Crossing)
	d.ID("box", c.Box)
	d.Required("state_dir", c.StateDir, "where sequence numbers and the outbox are kept, e.g. /perm/kordon/state")
	d.ListenAddr("http", c.HTTP)
	d.OneOf("log_level", c.LogLevel, "debug", "info", "warn", "error")
	c.checkHub(d)
	d.Range("outbox.max_bytes", c.Outbox.MaxBytes, 4<<10, 1<<40)
	d.Range("outbox.segment_bytes", c.Outbox.SegmentBytes, 1<<10, 1<<30)
	if c.Outbox.MaxBytes > 0 && c.Outbox.SegmentBytes > c.Outbox.MaxBytes {
		d.Errorf("outbox.segment_bytes", "%d is larger than outbox.max_bytes (%d)", c.Outbox.SegmentBytes, c.Outbox.MaxBytes)
	}
	devs := checkDevices(d, "devices", c.Devices, drivers, c.StateDir)
	if err := d.Err(); err != nil {
		return nil, nil, err
	}
	return c, devs, nil
}

func (c *Config) checkHub(d *config.Doc) {
	h := &c.Hub
	example := "tcp://hub.local:1883"
	if h.TLS != nil {
		example = "ssl://hub.local:8883"
	}
	if u := d.URL("hub.address", h.Address, hubSchemes, example); u != nil && h.TLS != nil {
		if s := u.Scheme; s != "ssl" && s != "tls" && s != "mqtts" && s != "wss" {
			d.Errorf("hub.address", "%q: with hub.tls the address is ssl://HOST:PORT (or mqtts://), not %s://", h.Address, s)
		}
	}
	if h.Password != "" && h.PasswordFile != "" {
		d.Errorf("hub.password_file", "give password or password_file, not both")
	}
	if h.Password == "" && h.PasswordFile != "" && d.Readable("hub.password_file", h.PasswordFile) {
		pw, err := os.ReadFile(h.PasswordFile)
		if err != nil {
			d.Errorf("hub.password_file", "%v", err)
		}
		h.Password = string(bytes.TrimSpace(pw))
	}
	if t := h.TLS; t != nil {
		d.Required("hub.tls.ca", t.CA, "the crossing CA certificate (PEM)")
		d.Required("hub.tls.cert", t.Cert, "this box's certificate (PEM)")
		d.Required("hub.tls.key", t.Key, "this box's key (PEM)")
		d.Readable("hub.tls.ca", t.CA)
		d.Readable("hub.tls.cert", t.Cert)
		d.Readable("hub.tls.key", t.Key)
	}
	d.DurationRange("hub.keepalive", h.KeepAlive, time.Second, 10*time.Minute)
	d.DurationRange("hub.max_reconnect_interval", h.MaxReconnectInterval, 100*time.Millisecond, time.Hour)
}

// LoadDevices reads a devices file as kordon-install takes it — a list of
// devices, or a mapping with devices: — and checks every entry exactly as
// edged does.
func LoadDevices(path string, drivers []device.Driver) ([]DeviceEntry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, config.Load(path, &struct{}{}).Err()
	}
	var list struct {
		Devices []DeviceEntry `yaml:"devices"`
	}
	var d *config.Doc
	var top yaml.Node
	if yaml.Unmarshal(b, &top) == nil && len(top.Content) > 0 && top.Content[0].Kind == yaml.SequenceNode {
		d = config.ParseAt(path, b, &list.Devices, "devices")
	} else {
		d = config.Parse(path, b, &list)
	}
	if d.Failed() {
		return nil, d.Err()
	}
	if !d.Has("devices") {
		d.Errorf("devices", "missing: the file holds no devices: list")
	}
	checkDevices(d, "devices", list.Devices, drivers, "")
	if err := d.Err(); err != nil {
		return nil, err
	}
	return list.Devices, nil
}

// checkDevices checks every device entry; stateDir (empty when only
// checking a file) is where each device may keep state of its own.
func checkDevices(d *config.Doc, field string, entries []DeviceEntry, drivers []device.Driver, stateDir string) []device.Config {
	byName := map[string]device.Driver{}
	names := make([]string, len(drivers))
	for i, drv := range drivers {
		byName[drv.Name] = drv
		for _, a := range drv.Aliases {
			byName[a] = drv
		}
		names[i] = drv.Name
	}
	first := map[string]string{}
	var devs []device.Config
	for i, e := range entries {
		at := fmt.Sprintf("%s[%d]", field, i)
		okID := d.ID(at+".id", e.ID)
		if prev, dup := first[e.ID]; dup && okID {
			d.Errorf(at+".id", "device %q appears twice (also %s)", e.ID, prev)
		} else if okID {
			first[e.ID] = fmt.Sprintf("line %d", d.Line(at+".id"))
		}
		drv, known := byName[e.Driver]
		if d.Required(at+".driver", e.Driver, "one of "+strings.Join(names, ", ")) && !known {
			d.Errorf(at+".driver", "unknown driver %q%s", e.Driver, config.Suggest(e.Driver, names))
		}
		terr := e.Transport.Validate()
		if terr != nil {
			d.Errorf(at+".transport", "%v", terr)
		}
		if !known {
			continue
		}
		opts := e.Options
		dc := device.Config{ID: e.ID, Transport: e.Transport, Options: device.Options{File: d.File, Node: &opts}, Clock: time.Now}
		wire(&dc)
		if stateDir != "" {
			dc.StateDir = filepath.Join(stateDir, "devices", e.ID)
		}
		build := drv.Build
		if terr != nil {
			build = drv.New // the transport's mistake is reported already; check the options
		}
		if _, err := build(dc); err != nil {
			d.Add(at+".options", optionError(d, at, err))
		}
		devs = append(devs, dc)
	}
	return devs
}

// wire gives a device the one opener its transport's port kind names: the
// serial port or TCP connection, libusb, or periph.io.
func wire(dc *device.Config) {
	kind, _ := device.PortOf(dc.Transport.Type) // an unknown type is reported by Build
	switch kind {
	case device.Stream:
		dc.Stream = device.StreamOf(dc.Transport)
	case device.HID:
		dc.HID = libusb.Open
	case device.Pin:
		dc.Pin = gpioline.Open
	}
}

// optionError puts a driver's option mistake under the device's path.
func optionError(d *config.Doc, at string, err error) error {
	var ce *device.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	field := ce.Field
	if field == "transport" {
		field = at + ".transport"
	} else {
		field = at + ".options." + field
	}
	line := ce.Line
	if line == 0 {
		line = d.Line(field)
	}
	if line == 0 {
		line = d.Line(at + ".options")
	}
	return &config.Error{File: ce.File, Line: line, Field: field, Msg: ce.Msg}
}

// backoff bounds for reopening a failed device. The ceiling is short on
// purpose: a replugged device must be read within a second whatever failed
// before, and a failed open costs one syscall.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = time.Second
	// backoffLogEvery is how often the same failure is logged again while
	// a device keeps failing (one line per reopen would flood the journal).
	backoffLogEvery = time.Minute
)
