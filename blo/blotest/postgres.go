package blotest

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Postgres starts a private PostgreSQL cluster (Debian's postgresql
// package, scripts/deps.sh) in a temporary directory and returns a DSN for
// its database "kordon". initdb refuses to run as root, so as root the
// cluster runs as the postgres account. The test is skipped when
// PostgreSQL is not installed (deps.sh installs it).
func Postgres(t testing.TB) string {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		t.Skip("PostgreSQL is not installed (scripts/deps.sh)")
	}
	sort.Strings(bins)
	bin := filepath.Dir(bins[len(bins)-1])
	dir, err := os.MkdirTemp("", "kordon-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var asUser []string
	if os.Geteuid() == 0 {
		pg, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("running as root and there is no postgres account")
		}
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	command := func(args ...string) *exec.Cmd {
		all := append(append([]string{}, asUser...), args...)
		return exec.Command(all[0], all[1:]...)
	}
	run := func(args ...string) {
		t.Helper()
		cmd := command(args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	data := filepath.Join(dir, "data")
	run(filepath.Join(bin, "initdb"), "-D", data, "-U", "kordon", "--auth=trust", "-E", "UTF8", "--no-instructions")
	port := strings.TrimPrefix(FreeAddr(t), "127.0.0.1:")
	run(filepath.Join(bin, "pg_ctl"), "-D", data, "-l", filepath.Join(dir, "log"), "-w", "-t", "60",
		"-o", fmt.Sprintf("-p %s -k %s -c listen_addresses=127.0.0.1 -c fsync=on", port, dir), "start")
	t.Cleanup(func() {
		command(filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop").Run()
	})
	run(filepath.Join(bin, "createdb"), "-h", "127.0.0.1", "-p", port, "-U", "kordon", "kordon")
	return fmt.Sprintf("postgres://kordon@127.0.0.1:%s/kordon?sslmode=disable", port)
}
