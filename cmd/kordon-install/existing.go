package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kordon/kordon/internal/cli"
)

// targetSize decides how large the flashed target is, and says so: a disk
// is what it is; an image file is --size, else its present size (never
// shrunk without being asked), else the image's size.
func targetSize(t *Target, imageSize int64, o *options) (int64, error) {
	switch {
	case t.Block:
		fmt.Fprintf(o.out, "size: disk %s is %s; the data partition fills it\n", t.Path, human(t.Size))
		return t.Size, nil
	case o.size > 0 && t.Size > o.size:
		if !o.force {
			return 0, fmt.Errorf("--size %s would shrink %s from %s: give a --size of at least %s, remove the file, or add --force", human(o.size), t.Path, human(t.Size), human(t.Size))
		}
		fmt.Fprintf(o.out, "WARNING (--force): shrinking %s from %s to %s\n", t.Path, human(t.Size), human(o.size))
		return o.size, nil
	case o.size > 0:
		fmt.Fprintf(o.out, "size: %s will be %s (--size); the data partition fills it\n", t.Path, human(o.size))
		return o.size, nil
	case t.Size >= imageSize:
		fmt.Fprintf(o.out, "size: %s keeps its %s; the data partition fills it\n", t.Path, human(t.Size))
		return t.Size, nil
	case t.Size > 0:
		fmt.Fprintf(o.out, "size: %s grows from %s to the image's %s\n", t.Path, human(t.Size), human(imageSize))
		return imageSize, nil
	}
	fmt.Fprintf(o.out, "size: new file %s of the image's %s (give --size for a larger data partition)\n", t.Path, human(imageSize))
	return imageSize, nil
}

// errNotProvisioned: the target holds no identity (new, blank, or never
// provisioned), so nothing of another box can be lost.
var errNotProvisioned = errors.New("not provisioned")

// readIdentity reads the identity and edged config on a flashed target.
func readIdentity(path string) (*Identity, []byte, Partition, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil, Partition{}, errNotProvisioned
		}
		return nil, nil, Partition{}, err
	}
	d, err := readGPT(f)
	f.Close()
	if err != nil {
		return nil, nil, Partition{}, fmt.Errorf("%w: %v (not flashed, or flashing did not finish)", errNotProvisioned, err)
	}
	_, _, _, perm, err := d.gokrazyLayout()
	if err != nil {
		return nil, nil, Partition{}, fmt.Errorf("%w: %v", errNotProvisioned, err)
	}
	b, err := readPermFile(path, perm, "/kordon/identity.json")
	if err != nil {
		if strings.Contains(err.Error(), "debugfs not found") {
			return nil, nil, perm, err
		}
		return nil, nil, perm, fmt.Errorf("%w: %v", errNotProvisioned, err)
	}
	var id Identity
	if err := json.Unmarshal(b, &id); err != nil {
		return nil, nil, perm, fmt.Errorf("identity.json on %s is damaged: %v", path, err)
	}
	cfg, _ := readPermFile(path, perm, "/kordon/edged.yaml")
	return &id, cfg, perm, nil
}

// checkIdentity refuses to overwrite a disk provisioned as another box
// unless --force: its queued readings and identity would be lost, and two
// boxes would then claim one name or one box none.
func checkIdentity(t *Target, o *options) error {
	if t.Size == 0 {
		return nil
	}
	id, _, _, err := readIdentity(t.Path)
	switch {
	case errors.Is(err, errNotProvisioned):
		return nil
	case err != nil:
		return err
	case id.Crossing == o.Crossing && id.Box == o.Box:
		fmt.Fprintf(o.out, "%s was provisioned as %s/%s on %s: provisioning it again as the same box\n", t.Path, id.Crossing, id.Box, id.ProvisionedAt.Format("2006-01-02"))
		return nil
	case !o.force:
		return fmt.Errorf("%s is provisioned as box %s of crossing %s (since %s); refusing to make it %s/%s: nothing was written (add --force to replace it)",
			t.Path, id.Box, id.Crossing, id.ProvisionedAt.Format("2006-01-02 15:04 MST"), o.Crossing, o.Box)
	}
	fmt.Fprintf(o.out, "WARNING (--force): %s was box %s/%s; it becomes %s/%s\n", t.Path, id.Crossing, id.Box, o.Crossing, o.Box)
	return nil
}

const showHelp = `usage: kordon-install show TARGET

Prints the identity (password hidden) and the devices provisioned on a
flashed disk or image file, and the size of its data partition.`

func cmdShow(args []string, o *options) error {
	fs := cli.New("kordon-install show", showHelp)
	if err := parse(fs, args, o, 1, "TARGET"); err != nil {
		return err
	}
	path := fs.Arg(0)
	id, cfg, perm, err := readIdentity(path)
	if errors.Is(err, errNotProvisioned) {
		return fmt.Errorf("%s: %v", path, err)
	}
	if err != nil {
		return err
	}
	if id.Hub.Password != "" {
		id.Hub.Password = "********"
	}
	out, _ := json.MarshalIndent(id, "", "  ")
	fmt.Fprintf(o.stdout, "%s\ndata partition: %s\n", out, human(perm.Size()))
	var c struct {
		Devices []struct {
			ID        string         `yaml:"id"`
			Driver    string         `yaml:"driver"`
			Transport map[string]any `yaml:"transport"`
		} `yaml:"devices"`
	}
	if err := yaml.Unmarshal(cfg, &c); err != nil {
		return fmt.Errorf("edged.yaml on %s: %v", path, err)
	}
	fmt.Fprintf(o.stdout, "devices: %d\n", len(c.Devices))
	for _, d := range c.Devices {
		fmt.Fprintf(o.stdout, "  %-12s %-18s %s\n", d.ID, d.Driver, transportText(d.Transport))
	}
	return nil
}

func transportText(t map[string]any) string {
	var parts []string
	for _, k := range []string{"type", "path", "baud", "vendor", "product", "address"} {
		if v, ok := t[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	return strings.Join(parts, " ")
}
