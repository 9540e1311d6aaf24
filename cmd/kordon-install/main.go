// Command kordon-install flashes a Kordon firmware image onto a box's disk
// (SD card, USB stick, eMMC in a reader) or into an image file, verifies it by
// reading it back, and gives the box its identity.
//
//	kordon-install flash --crossing kz-demo --box booth-01 --hub tcp://10.0.0.2:1883 \
//	    --password-file booth-01.pw --devices booth-01-devices.yaml kordon-rpi.img /dev/sdb
//	kordon-install provision ... /dev/sdb     re-provision a flashed disk (erases its data partition)
//	kordon-install show /dev/sdb               print the identity on a disk
//
// Order of work, so that an interrupted or failed run never leaves a disk
// that looks valid: (1) erase the partition tables and the data partition's
// superblock, (2) write boot + root and read them back, (3) create the data
// file system holding the identity and read it back, (4) only then write the
// partition table. Without (4) the disk has no partitions and no box boots it.
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kordon/kordon/internal/cli"
)

const headBytes = 1 << 20 // MBR, GPT and board boot blobs live below 1 MiB

type options struct {
	ProvisionInput
	force, yes bool
	size       int64
	passFile   string
	out        io.Writer // progress and messages
	in         io.Reader // confirmation answers
	stdout     io.Writer // what a command prints (show)
	stderr     io.Writer // help and usage mistakes
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const help = `usage:
  kordon-install flash [identity flags] [--force] [--yes] [--size BYTES] IMAGE TARGET
  kordon-install provision [identity flags] [--force] [--yes] TARGET
  kordon-install show TARGET
  kordon-install -version

flash writes a Kordon firmware image onto a box's disk (or an image file),
reads it back, and gives the box its identity. provision gives a flashed disk
a new identity (its data partition is erased). show prints the identity and
devices on a disk. kordon-install COMMAND -h lists a command's flags.

TARGET is a whole disk (/dev/sdb, /dev/mmcblk0) or an image file. A disk
already provisioned as another box is refused unless --force is given.
Identity flags (flash, provision):
  --crossing ID --box ID --hub tcp://HOST:PORT [--username U] --password P | --password-file F
  [--ca F --cert F --key F] [--devices devices.yaml] [--http :8081] [--technician USER:HASH]
  [--update-url http://HOST/releases/vm/] [--update-interval 1h] [--health-timeout 3m] [--debug]`

// stopError ends the command with an exit code, its message already printed.
type stopError int

func (e stopError) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, help)
		return 2
	}
	switch {
	case cli.IsHelp(args[0]):
		fmt.Fprintln(stdout, help)
		return 0
	case cli.IsVersion(args[0]):
		fmt.Fprintln(stdout, cli.Version("kordon-install"))
		return 0
	}
	o := &options{out: stderr, in: stdin, stdout: stdout, stderr: stderr}
	var err error
	switch args[0] {
	case "flash":
		err = cmdFlash(ctx, args[1:], o)
	case "provision":
		err = cmdProvision(ctx, args[1:], o)
	case "show":
		err = cmdShow(args[1:], o)
	default:
		fmt.Fprintf(stderr, "kordon-install: unknown command %q\n\n%s\n", args[0], help)
		return 2
	}
	var stop stopError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &stop):
		return int(stop)
	case errors.Is(err, context.Canceled):
		err = errors.New("interrupted: the target has no partition table now and will not boot; run kordon-install again")
	}
	fmt.Fprintf(stderr, "\nkordon-install: %v\n", err)
	return 1
}

// parse parses a command's flags; help, a bad flag or -version stop it.
func parse(fs *flag.FlagSet, args []string, o *options, nargs int, what string) error {
	if code, stop := cli.Parse(fs, args, o.stdout, o.stderr); stop {
		return stopError(code)
	}
	if fs.NArg() != nargs {
		return stopError(cli.Usagef(fs, o.stderr, "want %s, got %d argument(s)", what, fs.NArg()))
	}
	return nil
}

func flags(name, synopsis string, o *options) *flag.FlagSet {
	fs := cli.New("kordon-install "+name, synopsis)
	fs.StringVar(&o.Crossing, "crossing", "", "crossing id (e.g. kz-demo)")
	fs.StringVar(&o.Box, "box", "", "box id (e.g. booth-01)")
	fs.StringVar(&o.Hub.Address, "hub", "", "hub MQTT address, tcp://HOST:PORT or ssl://HOST:PORT")
	fs.StringVar(&o.Hub.Username, "username", "", "hub user name (default: the box id)")
	fs.StringVar(&o.Hub.Password, "password", "", "hub password (prefer --password-file: command lines are visible to other users)")
	fs.StringVar(&o.passFile, "password-file", "", "file holding the hub password")
	fs.StringVar(&o.CAFile, "ca", "", "CA certificate (PEM) for the hub")
	fs.StringVar(&o.CertFile, "cert", "", "box client certificate (PEM)")
	fs.StringVar(&o.KeyFile, "key", "", "box client key (PEM)")
	fs.StringVar(&o.DevicesFile, "devices", "", "YAML list of the box's devices (edged config devices:), checked as edged checks it")
	fs.StringVar(&o.HTTP, "http", ":8081", "edged status/health address")
	fs.StringVar(&o.Technician, "technician", "", "USER:BCRYPT-HASH who may read edged's /status and /metrics from the network")
	fs.StringVar(&o.UpdateURL, "update-url", "", "where the box pulls signed releases (http://HOST/PATH/)")
	fs.StringVar(&o.UpdateInterval, "update-interval", "", "how often it looks (default 1h)")
	fs.StringVar(&o.HealthTimeout, "health-timeout", "", "how long a new release gets to pass edged's health check before rollback (default 3m)")
	fs.BoolVar(&o.Debug, "debug", false, "enable a read-only view of gokrazy's logs on :8082/gokrazy/ (test rigs)")
	fs.BoolVar(&o.force, "force", false, "write even to a mounted, in-use or system disk, or one provisioned as another box (dangerous)")
	fs.BoolVar(&o.yes, "yes", false, "do not ask for confirmation before erasing a disk")
	return fs
}

func (o *options) readPassword() error {
	if o.passFile == "" {
		return nil
	}
	b, err := os.ReadFile(o.passFile)
	if err != nil {
		return err
	}
	o.Hub.Password = strings.TrimRight(string(b), "\r\n")
	return nil
}

func cmdFlash(ctx context.Context, args []string, o *options) error {
	fs := flags("flash", `usage: kordon-install flash [identity flags] [--force] [--yes] [--size BYTES] IMAGE TARGET

Writes the firmware IMAGE onto TARGET (a whole disk or an image file), reads
it back, and writes the box's identity and devices onto its data partition.
An existing image file keeps its size unless --size is given; the data
partition fills the target.`, o)
	fs.Int64Var(&o.size, "size", 0, "size of a target image file (default: the existing file's size, else the image's); the data partition fills it")
	if err := parse(fs, args, o, 2, "IMAGE and TARGET"); err != nil {
		return err
	}
	if err := o.readPassword(); err != nil {
		return err
	}
	return flash(ctx, fs.Arg(0), fs.Arg(1), o)
}

// checkTarget refuses unsafe targets and asks before erasing a disk.
func checkTarget(t *Target, o *options, what string) error {
	if len(t.Problems) > 0 {
		msg := "refusing to write " + t.Path + ":\n  - " + strings.Join(t.Problems, "\n  - ")
		if !o.force {
			return errors.New(msg + "\n(use --force only if you are sure this is the right disk)")
		}
		fmt.Fprintln(o.out, "WARNING (--force): "+strings.ReplaceAll(msg, "refusing to write", "writing anyway to"))
	}
	if !t.Block || o.yes {
		return nil
	}
	kind := "fixed disk"
	if t.Remove {
		kind = "removable"
	}
	fmt.Fprintf(o.out, "%s /dev/%s: %s %s (%s). Everything on it will be lost.\nType the device name (%s) to continue: ",
		what, t.Name, t.Model, human(t.Size), kind, t.Name)
	line, _ := bufio.NewReader(o.in).ReadString('\n')
	if strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "/dev/")) != t.Name {
		return errors.New("not confirmed; nothing was written")
	}
	return nil
}

func openTarget(t *Target, o *options) (*os.File, error) {
	flags := os.O_RDWR
	if t.Block {
		if !o.force {
			flags |= unix.O_EXCL // Linux: fails if the device is mounted or claimed
		}
	} else {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(t.Path, flags, 0o644)
	if errors.Is(err, unix.EBUSY) {
		return nil, fmt.Errorf("%s is busy (mounted or used by another program): nothing was written", t.Path)
	}
	if errors.Is(err, os.ErrPermission) {
		return nil, fmt.Errorf("%s: permission denied (run as root, e.g. with sudo): nothing was written", t.Path)
	}
	return f, err
}

func flash(ctx context.Context, imagePath, targetPath string, o *options) error {
	start := time.Now()
	if err := o.validate(); err != nil {
		return err
	}
	img, err := os.Open(imagePath)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	defer img.Close()
	fi, err := img.Stat()
	if err != nil {
		return err
	}
	d, err := readGPT(img)
	if err != nil {
		return fmt.Errorf("%s is not a Kordon firmware image: %v", imagePath, err)
	}
	_, _, rootB, perm, err := d.gokrazyLayout()
	if err != nil {
		return fmt.Errorf("%s is not a Kordon firmware image: %v", imagePath, err)
	}
	if abs1, _ := filepath.Abs(imagePath); func() bool { abs2, _ := filepath.Abs(targetPath); return abs1 == abs2 }() {
		return errors.New("image and target are the same file")
	}

	t, err := inspectTarget(targetPath)
	if err != nil {
		return err
	}
	size, err := targetSize(t, fi.Size(), o)
	if err != nil {
		return err
	}
	if min := perm.Start + 64<<20; size < min {
		return fmt.Errorf("%s has %s; the image needs at least %s", targetPath, human(size), human(min))
	}
	if err := checkIdentity(t, o); err != nil {
		return err
	}
	if err := checkTarget(t, o, "About to ERASE"); err != nil {
		return err
	}
	primary, primaryAt, backup, backupAt, permEnd, err := d.resized(size)
	if err != nil {
		return err
	}
	newPerm := Partition{Index: perm.Index, Start: perm.Start, End: permEnd}
	imgHash := hashFile(img)

	f, err := openTarget(t, o)
	if err != nil {
		return err
	}
	defer f.Close()

	// 1. Invalidate: from here on, until step 4, the target has no partition
	// table and no data file system.
	fmt.Fprintf(o.out, "target %s: %s, image %s (sha256 %.12s)\n", targetPath, human(size), filepath.Base(imagePath), imgHash)
	if t.Block {
		for _, z := range [][2]int64{{0, headBytes}, {perm.Start, 1 << 20}, {rootB.Start, 1 << 20}, {size - headBytes, headBytes}} {
			if err := zeroAt(f, z[0], z[1]); err != nil {
				return fmt.Errorf("erasing old partition table: %w", err)
			}
		}
	} else {
		if err := f.Truncate(0); err != nil {
			return err
		}
		if err := f.Truncate(size); err != nil {
			return fmt.Errorf("sizing %s: %w", targetPath, err)
		}
	}
	if err := flush(f, t.Block); err != nil {
		return err
	}

	// 2. Boot and root A (root B is the update slot; it gets written by updates).
	w0 := time.Now()
	p := newProgress(o.out, "writing", rootB.Start-headBytes)
	if err := copyRange(ctx, f, img, headBytes, rootB.Start, !t.Block, p); err != nil {
		return err
	}
	if err := flush(f, t.Block); err != nil {
		return err
	}
	p.finish()
	wrote := time.Since(w0)
	w0 = time.Now()
	p = newProgress(o.out, "verifying", rootB.Start-headBytes)
	if err := verifyRange(ctx, f, img, headBytes, rootB.Start, p); err != nil {
		return err
	}
	p.finish()
	verified := time.Since(w0)

	// 3. Identity: the data file system, read back.
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := provisionPerm(f, t, newPerm, o, filepath.Base(imagePath), imgHash); err != nil {
		return err
	}

	// 4. The partition table, last.
	head := make([]byte, headBytes)
	if _, err := img.ReadAt(head, 0); err != nil {
		return fmt.Errorf("reading image head: %w", err)
	}
	copy(head[primaryAt:], primary)
	if _, err := f.WriteAt(head, 0); err != nil {
		return fmt.Errorf("writing partition table: %w", err)
	}
	if _, err := f.WriteAt(backup, backupAt); err != nil {
		return fmt.Errorf("writing backup partition table: %w", err)
	}
	if err := flush(f, t.Block); err != nil {
		return err
	}
	got := make([]byte, headBytes)
	if _, err := f.ReadAt(got, 0); err != nil || string(got) != string(head) {
		return fmt.Errorf("verify failed: partition table did not read back (%v)", err)
	}
	if d2, err := readGPT(f); err != nil || len(d2.parts) != 4 || d2.parts[3].End != newPerm.End {
		return fmt.Errorf("verify failed: partition table unreadable after writing (%v)", err)
	}
	if t.Block {
		unix.IoctlSetInt(int(f.Fd()), unix.BLKRRPART, 0)
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(o.out, "done in %v (write %v, verify %v): box %s/%s, data partition %s. The disk can be removed.\n",
		time.Since(start).Round(100*time.Millisecond), wrote.Round(100*time.Millisecond), verified.Round(100*time.Millisecond),
		o.Crossing, o.Box, human(newPerm.Size()))
	return nil
}

// provisionPerm writes the identity as a new data file system and reads it back.
func provisionPerm(f *os.File, t *Target, perm Partition, o *options, image, imgHash string) error {
	// the old superblock goes first: a failed mkfs leaves no valid data fs
	if err := zeroAt(f, perm.Start, 1<<20); err != nil {
		return fmt.Errorf("erasing old data partition: %w", err)
	}
	if err := flush(f, t.Block); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "kordon-perm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	o.ProvisionedAt = time.Now().UTC().Truncate(time.Second)
	o.Image, o.ImageSHA256 = image, imgHash
	want, err := o.stage(dir)
	if err != nil {
		return fmt.Errorf("preparing identity: %w", err)
	}
	fmt.Fprintf(o.out, "provisioning: crossing %s, box %s, hub %s\n", o.Crossing, o.Box, o.Hub.Address)
	if err := mkfsPerm(t.Path, perm, dir); err != nil {
		return err
	}
	if err := flush(f, t.Block); err != nil {
		return err
	}
	got, err := readPermFile(t.Path, perm, "/kordon/identity.json")
	if err != nil {
		return fmt.Errorf("verify failed: reading the identity back: %w", err)
	}
	if string(got) != string(want) {
		return errors.New("verify failed: the identity read back differs from what was written")
	}
	return nil
}

func hashFile(f *os.File) string {
	h := sha256.New()
	io.Copy(h, io.NewSectionReader(f, 0, 1<<62))
	return hex.EncodeToString(h.Sum(nil))
}

func cmdProvision(ctx context.Context, args []string, o *options) error {
	fs := flags("provision", `usage: kordon-install provision [identity flags] [--force] [--yes] TARGET

Gives an already flashed TARGET a new identity and devices: its data
partition (box state, queued readings) is erased and written afresh. A disk
provisioned as another box is refused unless --force is given.`, o)
	if err := parse(fs, args, o, 1, "TARGET"); err != nil {
		return err
	}
	if err := o.readPassword(); err != nil {
		return err
	}
	return cmdProvisionTarget(ctx, fs.Arg(0), o)
}

func cmdProvisionTarget(ctx context.Context, target string, o *options) error {
	if err := o.validate(); err != nil {
		return err
	}
	t, err := inspectTarget(target)
	if err != nil {
		return err
	}
	if t.Size == 0 {
		return fmt.Errorf("%s does not exist or is empty: flash an image first", t.Path)
	}
	f, err := os.Open(t.Path)
	if err != nil {
		return err
	}
	d, err := readGPT(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s has no Kordon partition table (%v): use flash", t.Path, err)
	}
	_, _, _, perm, err := d.gokrazyLayout()
	if err != nil {
		return fmt.Errorf("%s: %v: use flash", t.Path, err)
	}
	if err := checkIdentity(t, o); err != nil {
		return err
	}
	if err := checkTarget(t, o, "About to ERASE the data partition (box state, queued readings) of"); err != nil {
		return err
	}
	f, err = openTarget(t, o)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := provisionPerm(f, t, perm, o, "", ""); err != nil {
		return err
	}
	fmt.Fprintf(o.out, "provisioned %s/%s on %s\n", o.Crossing, o.Box, t.Path)
	return f.Close()
}
