package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/drivers/all"
	"github.com/kordon/kordon/edge"
)

// Identity is /perm/kordon/identity.json: who this box is. kordon-update
// reads update_url/update_interval from it; edged gets edged.yaml.
type Identity struct {
	Format         int       `json:"format"`
	Crossing       string    `json:"crossing"`
	Box            string    `json:"box"`
	Hub            HubID     `json:"hub"`
	UpdateURL      string    `json:"update_url,omitempty"`
	UpdateInterval string    `json:"update_interval,omitempty"`
	HealthTimeout  string    `json:"health_timeout,omitempty"` // how long a new release gets to pass edged's health check
	ProvisionedAt  time.Time `json:"provisioned_at"`
	Image          string    `json:"image,omitempty"` // image file name it was flashed with
	ImageSHA256    string    `json:"image_sha256,omitempty"`
}

type HubID struct {
	Address  string `json:"address"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// TLS material, as paths on the box (copied to /perm/kordon/tls/).
	CA   string `json:"ca,omitempty"`
	Cert string `json:"cert,omitempty"`
	Key  string `json:"key,omitempty"`
}

// ProvisionInput is what the installer supplies.
type ProvisionInput struct {
	Identity
	CAFile, CertFile, KeyFile string // host paths
	DevicesFile               string // YAML: a list of devices, or a map with devices:
	HTTP                      string // edged's status address
	// Technician, "USER:BCRYPT-HASH", may read edged's /status and /metrics
	// from the network (`hubd passwd` prints a hash).
	Technician string
	Debug      bool // enable the read-only debug view of gokrazy logs
}

func (in *ProvisionInput) validate() error {
	var missing []string
	if in.Crossing == "" {
		missing = append(missing, "--crossing")
	}
	if in.Box == "" {
		missing = append(missing, "--box")
	}
	if in.Hub.Address == "" {
		missing = append(missing, "--hub")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing box identity: %s", strings.Join(missing, ", "))
	}
	for _, s := range []struct{ name, v string }{{"--crossing", in.Crossing}, {"--box", in.Box}} {
		if strings.ContainsAny(s.v, " /\\#+\n\t") {
			return fmt.Errorf("%s %q: no spaces, slashes, # or + (it becomes part of MQTT topics)", s.name, s.v)
		}
	}
	u, err := url.Parse(in.Hub.Address)
	if err != nil || (u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "tls" && u.Scheme != "mqtt" && u.Scheme != "mqtts") || u.Host == "" {
		return fmt.Errorf("--hub %q: want tcp://HOST:PORT or ssl://HOST:PORT", in.Hub.Address)
	}
	if in.Hub.Password == "" && in.CertFile == "" {
		return errors.New("no hub credentials: give --password (or --password-file) or --cert and --key")
	}
	if (in.CertFile == "") != (in.KeyFile == "") {
		return errors.New("--cert and --key go together")
	}
	if in.Hub.Username == "" && in.Hub.Password != "" {
		in.Hub.Username = in.Box
	}
	for _, f := range []string{in.CAFile, in.CertFile, in.KeyFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return err
		}
	}
	if in.DevicesFile != "" {
		// The same checks edged makes when it starts, so a file it would
		// refuse never reaches a card.
		if _, err := edge.LoadDevices(in.DevicesFile, all.Drivers()); err != nil {
			return fmt.Errorf("--devices: the devices file has mistakes; nothing was written:\n%v", err)
		}
	}
	if in.UpdateURL != "" {
		if u, err := url.Parse(in.UpdateURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("--update-url %q: want http(s)://HOST/PATH/", in.UpdateURL)
		}
	}
	if in.UpdateInterval != "" {
		if _, err := time.ParseDuration(in.UpdateInterval); err != nil {
			return fmt.Errorf("--update-interval: %v", err)
		}
	}
	if in.HealthTimeout != "" {
		if _, err := time.ParseDuration(in.HealthTimeout); err != nil {
			return fmt.Errorf("--health-timeout: %v", err)
		}
	}
	if in.HTTP == "" {
		in.HTTP = ":8081"
	}
	return nil
}

type edgedHub struct {
	Address  string    `yaml:"address"`
	Username string    `yaml:"username,omitempty"`
	Password string    `yaml:"password,omitempty"`
	TLS      *edgedTLS `yaml:"tls,omitempty"` // as edge.TLSConfig reads it
}

type edgedTLS struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

type edgedConfig struct {
	Crossing string   `yaml:"crossing"`
	Box      string   `yaml:"box"`
	StateDir string   `yaml:"state_dir"`
	HTTP     string   `yaml:"http"`
	Hub      edgedHub `yaml:"hub"`
	Devices  any      `yaml:"devices"`
	// Technicians as edged reads them (edge.Technician).
	Technicians []map[string]string `yaml:"technicians,omitempty"`
}

// stage writes the /perm tree for the box into dir (dir/kordon/...).
func (in *ProvisionInput) stage(dir string) (identityJSON []byte, err error) {
	k := filepath.Join(dir, "kordon")
	for _, d := range []string{k, filepath.Join(k, "state"), filepath.Join(k, "update")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	id := in.Identity
	id.Format = 1
	copyIn := func(src, name string) (string, error) {
		if src == "" {
			return "", nil
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return "", err
		}
		os.MkdirAll(filepath.Join(k, "tls"), 0o700)
		if err := os.WriteFile(filepath.Join(k, "tls", name), b, 0o600); err != nil {
			return "", err
		}
		return "/perm/kordon/tls/" + name, nil
	}
	if id.Hub.CA, err = copyIn(in.CAFile, "ca.pem"); err != nil {
		return nil, err
	}
	if id.Hub.Cert, err = copyIn(in.CertFile, "cert.pem"); err != nil {
		return nil, err
	}
	if id.Hub.Key, err = copyIn(in.KeyFile, "key.pem"); err != nil {
		return nil, err
	}

	var devices any = []any{}
	if in.DevicesFile != "" {
		b, err := os.ReadFile(in.DevicesFile)
		if err != nil {
			return nil, err
		}
		var v any
		if err := yaml.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("%s: %v", in.DevicesFile, err)
		}
		if m, ok := v.(map[string]any); ok {
			v = m["devices"]
		}
		if _, ok := v.([]any); !ok {
			return nil, fmt.Errorf("%s: want a list of devices (or devices: [...])", in.DevicesFile)
		}
		devices = v
	}
	cfg := edgedConfig{Crossing: id.Crossing, Box: id.Box, StateDir: "/perm/kordon/state", HTTP: in.HTTP,
		Hub:     edgedHub{Address: id.Hub.Address, Username: id.Hub.Username, Password: id.Hub.Password},
		Devices: devices}
	if id.Hub.Cert != "" {
		cfg.Hub.TLS = &edgedTLS{CA: id.Hub.CA, Cert: id.Hub.Cert, Key: id.Hub.Key}
	}
	if in.Technician != "" {
		user, hash, ok := strings.Cut(in.Technician, ":")
		if !ok || user == "" || !strings.HasPrefix(hash, "$2") {
			return nil, fmt.Errorf("--technician: want USER:BCRYPT-HASH (hubd passwd prints a hash)")
		}
		cfg.Technicians = []map[string]string{{"user": user, "password_hash": hash}}
	}
	var yb bytes.Buffer
	yb.WriteString("# written by kordon-install; box identity is in identity.json\n")
	enc := yaml.NewEncoder(&yb)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(k, "edged.yaml"), yb.Bytes(), 0o600); err != nil {
		return nil, err
	}
	if in.Debug {
		if err := os.WriteFile(filepath.Join(k, "debug"), []byte("read-only debug view of gokrazy logs on :8082/gokrazy/\n"), 0o600); err != nil {
			return nil, err
		}
	}
	identityJSON, err = json.MarshalIndent(id, "", "  ")
	if err != nil {
		return nil, err
	}
	identityJSON = append(identityJSON, '\n')
	if err := os.WriteFile(filepath.Join(k, "identity.json"), identityJSON, 0o600); err != nil {
		return nil, err
	}
	return identityJSON, nil
}

// mkfsPerm creates the ext4 data partition at [p.Start, p.End) of target,
// populated from dir. The superblock is what makes it valid; mke2fs writes
// it as its last step.
func mkfsPerm(target string, p Partition, dir string) error {
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		return errors.New("mkfs.ext4 not found: install e2fsprogs (apt-get install e2fsprogs)")
	}
	cmd := exec.Command("mkfs.ext4", "-q", "-F", "-L", "perm", "-m", "1",
		"-E", fmt.Sprintf("offset=%d,root_owner=0:0", p.Start),
		"-d", dir, target, fmt.Sprintf("%dk", p.Size()/1024))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("creating the data file system: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// readPermFile reads a file from the data partition without mounting it.
func readPermFile(target string, p Partition, name string) ([]byte, error) {
	if _, err := exec.LookPath("debugfs"); err != nil {
		return nil, errors.New("debugfs not found: install e2fsprogs")
	}
	var stderr bytes.Buffer
	cmd := exec.Command("debugfs", "-R", "cat "+name, fmt.Sprintf("%s?offset=%d", target, p.Start))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("debugfs: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	if len(out) == 0 && strings.Contains(stderr.String(), "not found") {
		return nil, fmt.Errorf("%s not found on the data partition", name)
	}
	if strings.Contains(stderr.String(), "Bad magic") || strings.Contains(stderr.String(), "Can't find") {
		return nil, fmt.Errorf("no valid data file system: %s", strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
