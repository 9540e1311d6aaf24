package edge

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/edge/booth"
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

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// LoadConfig reads and validates a box config. Every error names the file,
// the line and the field.
func LoadConfig(path string, drivers []device.Driver) (*Config, []device.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return ParseConfig(path, b, drivers)
}

// ParseConfig is LoadConfig on bytes already read; path names them in errors.
func ParseConfig(path string, b []byte, drivers []device.Driver) (*Config, []device.Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Config
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, nil, fmt.Errorf("%s: %s", path, err)
	}
	if err := dec.Decode(&c); err != nil {
		return nil, nil, fmt.Errorf("%s: %s", path, trimYAML(err))
	}
	c.file = path
	lines := keyLines(&root)
	e := func(field, format string, args ...any) error {
		return &device.ConfigError{File: path, Line: lines[field], Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if !idPattern.MatchString(c.Crossing) {
		return nil, nil, e("crossing", "must be lower-case letters, digits, - or _ (got %q)", c.Crossing)
	}
	if !idPattern.MatchString(c.Box) {
		return nil, nil, e("box", "must be lower-case letters, digits, - or _ (got %q)", c.Box)
	}
	if c.StateDir == "" {
		return nil, nil, e("state_dir", "missing: where sequence numbers and the outbox are kept")
	}
	if c.Hub.Address == "" {
		return nil, nil, e("hub.address", "missing, e.g. tcp://hub.local:1883")
	}
	if c.Hub.Password == "" && c.Hub.PasswordFile != "" {
		pw, err := os.ReadFile(c.Hub.PasswordFile)
		if err != nil {
			return nil, nil, e("hub.password_file", "%v", err)
		}
		c.Hub.Password = string(bytes.TrimSpace(pw))
	}
	byName := map[string]device.Driver{}
	for _, d := range drivers {
		byName[d.Name] = d
	}
	seen := map[string]bool{}
	var devs []device.Config
	for i, d := range c.Devices {
		at := fmt.Sprintf("devices[%d]", i)
		if !idPattern.MatchString(d.ID) {
			return nil, nil, e(at+".id", "must be lower-case letters, digits, - or _ (got %q)", d.ID)
		}
		if seen[d.ID] {
			return nil, nil, e(at+".id", "device %q appears twice", d.ID)
		}
		seen[d.ID] = true
		drv, ok := byName[d.Driver]
		if !ok {
			return nil, nil, e(at+".driver", "unknown driver %q (known: %s)", d.Driver, driverNames(drivers))
		}
		if err := d.Transport.Validate(); err != nil {
			return nil, nil, e(at+".transport", "%v", err)
		}
		opts := d.Options
		dc := device.Config{ID: d.ID, Transport: d.Transport, Options: device.Options{File: path, Node: &opts}, OpenHID: libusb.Open, OpenPin: gpioline.Open,
			StateDir: filepath.Join(c.StateDir, "devices", d.ID)}
		if _, err := drv.New(dc); err != nil {
			return nil, nil, fmt.Errorf("device %s: %w", d.ID, err)
		}
		devs = append(devs, dc)
	}
	return &c, devs, nil
}

func driverNames(ds []device.Driver) string {
	s := ""
	for i, d := range ds {
		if i > 0 {
			s += ", "
		}
		s += d.Name
	}
	return s
}

// keyLines maps dotted field paths ("hub.address", "devices[0].driver") to
// the line they are written on, so semantic errors can point at them.
func keyLines(root *yaml.Node) map[string]int {
	m := map[string]int{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, prefix)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				p := k.Value
				if prefix != "" {
					p = prefix + "." + k.Value
				}
				m[p] = k.Line
				walk(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			m[prefix] = n.Line
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", prefix, i)
				m[p] = c.Line
				walk(c, p)
			}
		}
	}
	walk(root, "")
	return m
}

func trimYAML(err error) string {
	s := err.Error()
	return regexp.MustCompile(`^yaml: (unmarshal errors:\n\s*)?`).ReplaceAllString(s, "")
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
